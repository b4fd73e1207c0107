// A Service port's application protocol as Istio derives it (its port-naming and appProtocol rules): the
// `appProtocol` field when set (Kubernetes' `kubernetes.io/h2c` means HTTP/2), else the port name's prefix before
// the first '-' (`http`, `http2`, `grpc`, ...; not `h2c`, which Istio's name parser does not know), case-insensitive. Only what the WDS `AppProtocol` carries is kept:
// HTTP/1.1, HTTP/2 and gRPC; anything else (tcp, https, grpc-web, undeclared) is unknown.

import type { AppProtocol } from '@ambit/mesh-api';

export function appProtocolOf(port: { name?: string; appProtocol?: string; protocol?: string }): AppProtocol | undefined {
  if (port.protocol && port.protocol !== 'TCP') return undefined;
  let name = port.name ?? '';
  if (port.appProtocol) {
    const a = port.appProtocol.toLowerCase();
    if (a === 'kubernetes.io/h2c') return 'HTTP2';
    if (a === 'kubernetes.io/ws') return 'HTTP11';
    name = a;
  }
  const lower = name.toLowerCase();
  if (lower.startsWith('grpc-web')) return undefined;
  const dash = lower.indexOf('-');
  switch (dash < 0 ? lower : lower.slice(0, dash)) {
    case 'http':
      return 'HTTP11';
    case 'http2':
      return 'HTTP2';
    case 'grpc':
      return 'GRPC';
    default:
      return undefined;
  }
}
