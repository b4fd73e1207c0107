// The dashboard's local HTTP server: the page, its script and /api/graph, on loopback only, answering only requests
// addressed to it by name (a page elsewhere cannot read the mesh's graph through DNS rebinding).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PAGE_HTML, PAGE_JS } from './page.js';
import type { Snapshot } from './snapshot.js';

export interface DashboardServerOptions {
  address: string;
  port: number;
  /** One refresh; never rejects (failures are states of the snapshot). */
  snapshot: () => Promise<Snapshot>;
  /** Answers younger than this are shared between tabs and reloads. Default 1000 ms. */
  cacheMs?: number;
}

export interface DashboardServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const hostPart = (address: string) => (address.includes(':') ? `[${address}]` : address);

export async function startDashboardServer(o: DashboardServerOptions): Promise<DashboardServer> {
  const cacheMs = o.cacheMs ?? 1000;
  let cached: { at: number; body: string } | undefined;
  let inFlight: Promise<string> | undefined;
  const graphJson = (): Promise<string> => {
    if (cached && Date.now() - cached.at < cacheMs) return Promise.resolve(cached.body);
    inFlight ??= o
      .snapshot()
      .then((s) => {
        const body = JSON.stringify(s);
        cached = { at: Date.now(), body };
        return body;
      })
      .finally(() => (inFlight = undefined));
    return inFlight;
  };

  let allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => {
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (!allowedHosts.has((req.headers.host ?? '').toLowerCase())) return send(421, 'text/plain; charset=utf-8', 'this dashboard answers only on the address it printed\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') return send(200, 'text/html; charset=utf-8', PAGE_HTML);
    if (path === '/app.js') return send(200, 'text/javascript; charset=utf-8', PAGE_JS);
    if (path === '/api/graph')
      return void graphJson().then(
        (body) => send(200, 'application/json', body),
        (err: unknown) => send(500, 'application/json', JSON.stringify({ state: 'dashboard-error', message: err instanceof Error ? err.message : String(err) })),
      );
    send(404, 'text/plain; charset=utf-8', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  allowedHosts = new Set([`${hostPart(o.address)}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`].map((h) => h.toLowerCase()));
  return {
    url: `http://${hostPart(o.address)}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
