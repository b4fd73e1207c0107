// The admin listeners: readiness (`/healthz/ready`: 200 `ready` or 503 `not ready`) and metrics
// (`/stats/prometheus`, `/metrics`), each a bare HTTP server on its own port, apart from the proxied traffic.
// Any other path answers 404.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistry } from '@ambit/plugin-sdk';

export interface ListenAt {
  port: number;
  host?: string;
}

type Route = (path: string) => [number, string] | undefined;

export class AdminServers {
  readonly #servers: Server[] = [];

  /** Readiness: 200 while `ready()`, else 503. Resolves to the bound port. */
  readiness(at: ListenAt, ready: () => boolean): Promise<number> {
    return this.#listen(at, (path) => (path === '/healthz/ready' ? (ready() ? [200, 'ready\n'] : [503, 'not ready\n']) : undefined));
  }

  /** Prometheus text of `metrics`. Resolves to the bound port. */
  metrics(at: ListenAt, metrics: MetricsRegistry): Promise<number> {
    return this.#listen(at, (path) => (path === '/stats/prometheus' || path === '/metrics' ? [200, metrics.render()] : undefined));
  }

  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  async #listen(at: ListenAt, route: Route): Promise<number> {
    const server = createServer((req, res) => {
      const r = route((req.url ?? '/').split('?')[0]!);
      const [status, body] = r ?? [404, 'not found\n'];
      res.writeHead(status, { 'content-type': status === 200 && body.startsWith('#') ? 'text/plain; version=0.0.4' : 'text/plain' });
      res.end(body);
    });
    this.#servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host ?? '0.0.0.0', () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }
}
