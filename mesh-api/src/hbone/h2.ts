// HTTP/2 tuning shared by both ends of HBONE (ztunnel defaults): stream window 4 MiB, connection window 16 MiB,
// max frame 1 MiB, at most 100 concurrent streams per connection. Node's 64 KiB defaults collapse throughput.
import type * as http2 from 'node:http2';

export const STREAM_WINDOW = 4 * 1024 * 1024;
export const CONNECTION_WINDOW = 16 * 1024 * 1024;
export const MAX_FRAME_SIZE = 1024 * 1024;
export const MAX_STREAMS_PER_CONNECTION = 100;

export const h2Settings: http2.Settings = {
  initialWindowSize: STREAM_WINDOW,
  maxFrameSize: MAX_FRAME_SIZE,
  maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION,
  enablePush: false,
};

/** Options for http2.connect / createSecureServer. */
export const h2SessionOptions = {
  settings: h2Settings,
  // Outstanding memory per session, in MB (node default 10): must cover the windows above.
  maxSessionMemory: 64,
  peerMaxConcurrentStreams: MAX_STREAMS_PER_CONNECTION,
};

export function raiseConnectionWindow(session: http2.Http2Session): void {
  try {
    session.setLocalWindowSize(CONNECTION_WINDOW);
  } catch {
    // session already closing
  }
}

/** `ip:port`, IPv6 as `[ip]:port`. */
export function formatAuthority(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function parseAuthority(authority: string): { ip: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(authority) ?? /^([^:[\]]+):(\d+)$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!(port > 0 && port < 65536)) return undefined;
  return { ip: m[1]!, port };
}
