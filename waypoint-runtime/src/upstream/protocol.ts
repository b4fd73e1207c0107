// Which HTTP version the upstream leg speaks, per Istio's protocol selection: a service port declared HTTP/2 or
// gRPC (name prefix `http2`/`grpc`, appProtocol `http2`/`grpc`/`kubernetes.io/h2c`; the mesh model carries the
// result as `appProtocols`) gets HTTP/2 without TLS (h2c, inside the HBONE tunnel when the endpoint is captured);
// a port declared HTTP/1.1 (`http`) gets HTTP/1.1; an undeclared port keeps the downstream request's version, as
// Envoy's USE_DOWNSTREAM_PROTOCOL does for ports whose protocol Istio detects.

import type { Backend, MeshStateReader, RequestInfo } from '@ambit/plugin-sdk';

export type UpstreamProtocol = 'http1' | 'h2';

export function upstreamProtocol(backend: Backend, mesh: MeshStateReader, downstream: RequestInfo['protocol']): UpstreamProtocol {
  const s = backend.service;
  const declared = s ? mesh.serviceByHostname(s.hostname)?.appProtocols?.[String(s.port)] : undefined;
  if (declared === 'HTTP2' || declared === 'GRPC') return 'h2';
  if (declared === 'HTTP11') return 'http1';
  return downstream === 'HTTP/2' ? 'h2' : 'http1';
}
