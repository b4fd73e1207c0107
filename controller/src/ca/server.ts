// The controller's :15012: HTTP/2 over TLS (HTTP/1.1 accepted too, for curl and plain HTTPS clients), serving
// the CA (`POST /v1/certificates`) and the config push stream (`POST /v1/stream`). The serving certificate is
// swapped in place on renewal. Bounded: TLS handshakes must finish within 10 s, at most `maxSessions` HTTP/2
// connections are open (more are refused with GOAWAY), and a connection with no open stream is closed after
// `idleTimeoutMs`.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export type RouteHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void | Promise<void>;

export interface ControlPlaneServerOptions {
  port?: number;
  host?: string;
  key: string;
  cert: string;
  /** Open HTTP/2 connections at most (default 4096); one more is answered GOAWAY and closed. */
  maxSessions?: number;
  /** A connection without an open stream is closed after this long (default 120 s). */
  idleTimeoutMs?: number;
  /** A TLS handshake must complete within this long (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Told when a connection is refused or closed idle (no secrets in it). */
  onLimit?: (event: 'session-refused' | 'session-idle', fields: Record<string, unknown>) => void;
}

export class ControlPlaneServer {
  readonly server: http2.Http2SecureServer;
  readonly #routes = new Map<string, RouteHandler>();
  readonly #opts: ControlPlaneServerOptions;
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  constructor(opts: ControlPlaneServerOptions) {
    this.#opts = opts;
    this.server = http2.createSecureServer({
      key: opts.key,
      cert: opts.cert,
      allowHTTP1: true,
      minVersion: 'TLSv1.2',
      settings: { initialWindowSize: 4 << 20 },
      handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    });
    this.server.on('session', (s) => this.#admit(s));
    this.server.on('request', (req, res) => void this.#dispatch(req, res));
  }

  /** Open HTTP/2 connections. */
  get sessions(): number {
    return this.#sessions.size;
  }

  #admit(s: http2.ServerHttp2Session): void {
    s.on('error', () => {});
    const max = this.#opts.maxSessions ?? 4096;
    if (this.#sessions.size >= max) {
      this.#opts.onLimit?.('session-refused', { limit: max, remote: s.socket?.remoteAddress });
      s.goaway(http2.constants.NGHTTP2_REFUSED_STREAM);
      s.destroy();
      return;
    }
    this.#sessions.add(s);
    const idleMs = this.#opts.idleTimeoutMs ?? 120_000;
    let open = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (open > 0 || s.closed || s.destroyed) return;
        this.#opts.onLimit?.('session-idle', { idleMs, remote: s.socket?.remoteAddress });
        s.close();
        setTimeout(() => s.destroyed || s.destroy(), 1000).unref();
      }, idleMs);
      timer.unref();
    };
    s.on('stream', (stream) => {
      open++;
      clearTimeout(timer);
      stream.once('close', () => {
        if (--open === 0) arm();
      });
    });
    s.on('close', () => {
      clearTimeout(timer);
      this.#sessions.delete(s);
    });
    arm();
  }

  /** Registers `handler` for `POST path` (other methods get 405). */
  route(path: string, handler: RouteHandler): void {
    this.#routes.set(path, handler);
  }

  /** Serves a new certificate to new connections. */
  setCredentials(key: string, cert: string): void {
    this.server.setSecureContext({ key, cert });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.#opts.port ?? 15012, this.#opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  get port(): number | undefined {
    return (this.server.address() as AddressInfo | null)?.port;
  }

  async close(): Promise<void> {
    for (const s of this.#sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #dispatch(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    const handler = this.#routes.get(path);
    try {
      if (!handler) return sendJson(res, 404, { error: `no route ${path}` });
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      await handler(req, res);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
      else res.stream?.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  }
}

export function sendJson(res: http2.Http2ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads a request body up to `limit` bytes. */
export async function readBody(req: http2.Http2ServerRequest, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new BodyTooLarge(limit);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class BodyTooLarge extends Error {
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}
