// The controller's :15012: HTTP/2 over TLS (HTTP/1.1 accepted too, for curl and plain HTTPS clients), serving
// the CA (`POST /v1/certificates`) and the config push stream (`POST /v1/stream`). The serving certificate is
// swapped in place on renewal.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export type RouteHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void | Promise<void>;

export interface ControlPlaneServerOptions {
  port?: number;
  host?: string;
  key: string;
  cert: string;
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
    });
    this.server.on('session', (s) => {
      this.#sessions.add(s);
      s.on('close', () => this.#sessions.delete(s));
      s.on('error', () => {});
    });
    this.server.on('request', (req, res) => void this.#dispatch(req, res));
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
