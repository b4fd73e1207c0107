// gRPC specifics of the HTTP path. A gRPC request is one whose content-type is application/grpc[+proto|...].
// Local replies to it are gRPC statuses as Envoy sends them (HTTP 200, grpc-status mapped from the HTTP status
// per gRPC's http-grpc-status-mapping, grpc-message the reply body). Status fields travel as trailers over
// HTTP/2; Node's HTTP/2 response cannot end the stream on its HEADERS frame, so a "trailers-only" status is sent
// as response headers followed by trailers, which every gRPC client accepts.

import type { Headers } from '@ambit/plugin-sdk';

/** Response fields that carry a gRPC call's status. */
export const GRPC_STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'] as const;

export function isGrpc(headers: Record<string, unknown>): boolean {
  const ct = headers['content-type'];
  return typeof ct === 'string' && /^application\/grpc(?:$|[+;])/i.test(ct);
}

/** gRPC status for a local HTTP reply (gRPC's doc/http-grpc-status-mapping.md). */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** grpc-message percent-encoding: bytes outside printable ASCII, and '%', as %XX of their UTF-8 bytes. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Moves the gRPC status fields out of `headers` (a trailers-only response) and returns them, if any. */
export function takeGrpcStatus(headers: Headers): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const k of GRPC_STATUS_FIELDS) {
    const v = headers[k];
    if (v === undefined) continue;
    (out ??= {})[k] = Array.isArray(v) ? v.join(',') : v;
    delete headers[k];
  }
  return out;
}
