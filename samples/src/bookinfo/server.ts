// The small HTTP plumbing the four Bookinfo services share: a router on node:http, JSON replies, and
// calls to the other services that forward Istio's tracing headers as the original app does.
import http from 'node:http';

export type Handler = (req: http.IncomingMessage, url: URL) => Promise<Reply> | Reply;
export interface Reply {
  status?: number;
  type?: string;
  body: string | object;
}

/** Headers the original Bookinfo forwards so traces and user routing follow a request across services. */
export const FORWARDED_HEADERS = [
  'x-request-id', 'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid',
  'x-b3-sampled', 'x-b3-flags', 'b3', 'x-ot-span-context', 'end-user', 'user-agent', 'cookie',
];

export function serve(name: string, routes: Record<string, Handler>, port = Number(process.env.PORT ?? 9080)): http.Server {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Exact paths first; keys ending in '/' (other than '/' itself) also match as prefixes.
    const route = routes[url.pathname] ? url.pathname
      : Object.keys(routes).find((p) => p.length > 1 && p.endsWith('/') && url.pathname.startsWith(p));
    let reply: Reply;
    try {
      reply = route ? await routes[route](req, url) : { status: 404, body: { error: 'Not found' } };
    } catch (err) {
      reply = { status: 500, body: { error: (err as Error).message } };
    }
    const body = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status ?? 200, { 'content-type': reply.type ?? (typeof reply.body === 'string' ? 'text/html; charset=utf-8' : 'application/json') });
    res.end(body);
    console.log(`${new Date().toISOString()} ${req.method} ${url.pathname} ${reply.status ?? 200}`);
  });
  server.listen(port, () => console.log(`${name} listening on port ${port}`));
  // Exit promptly on SIGTERM, as the upstream apps do: close() alone waits for every kept-alive connection (a
  // proxy's pooled one may never end), which held a deleted pod in Terminating for its whole grace period.
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

export interface Fetched {
  status: number;
  json?: unknown;
}

/** GET a JSON document from another service; network errors and timeouts come back as status 0. */
export async function getJson(url: string, from: http.IncomingMessage, timeoutMs = 3000): Promise<Fetched> {
  const headers: Record<string, string> = {};
  for (const h of FORWARDED_HEADERS) {
    const v = from.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json };
  } catch {
    return { status: 0 };
  }
}

/** The pod name, as Kubernetes gives it to a container (HOSTNAME), else the machine's. */
export function podName(): string {
  return process.env.HOSTNAME ?? process.env.POD_NAME ?? 'unknown';
}
