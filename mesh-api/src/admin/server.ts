// The one admin HTTP server of the repository: ztunnel's :15000/:15020/:15021, the waypoint's readiness and stats
// ports and the controller's :15014 each give it a table of exact paths; it owns the sockets, the 404/405/500 answers
// and the shutdown. On node:http, so the ztunnel (whose idle memory is counted) loads no web framework for it.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a handler sees of a request: the body is never read (admin endpoints take none). */
export interface AdminRequest {
  method: string;
  /** The path as looked up: without the query, after `normalizePath`. */
  path: string;
  /** The query string without its `?` ('' when none). */
  query: string;
  headers: http.IncomingHttpHeaders;
}

export interface AdminResponse {
  /** Default 200. */
  status?: number;
  /** No content-type header when omitted. */
  contentType?: string;
  body?: string;
  /** Runs right after the response is handed to the socket (ztunnel's /quitquitquit answers, then stops). */
  after?: () => void;
}

export type AdminHandler = (req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export interface AdminRoute {
  /** The methods the path takes (HEAD is answered without the body); every method when omitted. */
  methods?: readonly string[];
  handler: AdminHandler;
}

export interface AdminServerOptions {
  port: number;
  /** Omitted: every address (node's default). */
  host?: string;
  /** Exact path -> handler. */
  routes: Readonly<Record<string, AdminHandler | AdminRoute>>;
  /** Applied to the path before the lookup (istiod's port collapses leading slashes: istioctl asks for `//version`). */
  normalizePath?: (path: string) => string;
  /** The answer to an unknown path. Default 404 `not found` as text/plain. */
  notFound?: AdminResponse;
  /**
   * A known path asked with a method it does not take: 405 with `Allow` (the default), or the `notFound` answer
   * (istiod's monitoring port answers 404).
   */
  wrongMethod?: 'not-allowed' | 'not-found';
}

const NOT_FOUND: AdminResponse = { status: 404, contentType: 'text/plain', body: 'not found\n' };

export class AdminServer {
  readonly #server: http.Server;
  #closed: Promise<void> | undefined;

  private constructor(server: http.Server) {
    this.#server = server;
  }

  /** Listens on `host:port`; rejects (EADDRINUSE, ...) with the address in the message when it cannot. */
  static async listen(opts: AdminServerOptions): Promise<AdminServer> {
    const routes = new Map(Object.entries(opts.routes).map(([path, r]) => [path, typeof r === 'function' ? { handler: r } : r] as const));
    const server = http.createServer((req, res) => void answer(opts, routes, req, res));
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        err.message = `admin server on ${opts.host ?? '*'}:${opts.port}: ${err.message}`;
        reject(err);
      };
      server.once('error', failed);
      server.listen(opts.port, opts.host, () => {
        server.off('error', failed);
        resolve();
      });
    });
    return new AdminServer(server);
  }

  get address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** The bound port (the one the system picked when asked for 0). */
  get port(): number {
    return this.address.port;
  }

  /** Stops listening and drops open connections; resolves once closed (again on a second call). */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closed;
  }
}

async function answer(opts: AdminServerOptions, routes: Map<string, AdminRoute>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const raw = q < 0 ? url : url.slice(0, q);
  const method = req.method ?? 'GET';
  let out: AdminResponse;
  try {
    const path = opts.normalizePath ? opts.normalizePath(raw) : raw;
    const route = routes.get(path);
    if (!route) out = opts.notFound ?? NOT_FOUND;
    else if (route.methods && !route.methods.includes(method)) {
      out = opts.wrongMethod === 'not-found' ? (opts.notFound ?? NOT_FOUND) : { status: 405, contentType: 'text/plain', body: `${method} is not allowed on ${path}: use ${route.methods.join(' or ')}\n` };
      if (out.status === 405) res.setHeader('allow', route.methods.join(', '));
    } else out = await route.handler({ method, path, query: q < 0 ? '' : url.slice(q + 1), headers: req.headers });
  } catch (e) {
    out = { status: 500, contentType: 'text/plain', body: `${(e as Error)?.message ?? String(e)}\n` };
  }
  if (res.destroyed) return;
  try {
    res.writeHead(out.status ?? 200, out.contentType === undefined ? undefined : { 'content-type': out.contentType });
    res.end(out.body);
  } catch (e) {
    // A handler's answer node refuses (a status out of range, a header with a newline): a 500 that says so.
    if (res.headersSent) res.destroy();
    else res.writeHead(500, { 'content-type': 'text/plain' }).end(`bad admin response for ${req.url}: ${(e as Error).message}\n`);
    return;
  }
  try {
    out.after?.();
  } catch {
    // The answer is on its way; what the handler does next is its own business, never the server's crash.
  }
}
