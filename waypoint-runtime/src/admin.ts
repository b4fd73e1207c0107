// The admin listeners: readiness (`/healthz/ready`: 200 `ready` or 503 `not ready`) and metrics
// (`/stats/prometheus`, `/metrics`), each on its own port apart from the proxied traffic, served by mesh-api's
// AdminServer (any other path answers 404).

import { AdminServer, type AdminHandler } from '@ambit/mesh-api';
import type { MetricsRegistry } from '@ambit/plugin-sdk';

export interface ListenAt {
  port: number;
  host?: string;
}

export class AdminServers {
  readonly #servers: AdminServer[] = [];

  /** Readiness: 200 while `ready()`, else 503. Resolves to the bound port. */
  readiness(at: ListenAt, ready: () => boolean): Promise<number> {
    return this.#listen(at, { '/healthz/ready': () => (ready() ? { contentType: 'text/plain', body: 'ready\n' } : { status: 503, contentType: 'text/plain', body: 'not ready\n' }) });
  }

  /** Prometheus text of `metrics`. Resolves to the bound port. */
  metrics(at: ListenAt, metrics: MetricsRegistry): Promise<number> {
    const render: AdminHandler = async () => {
      const body = await metrics.render();
      return { contentType: body.startsWith('#') ? 'text/plain; version=0.0.4' : 'text/plain', body };
    };
    return this.#listen(at, { '/stats/prometheus': render, '/metrics': render });
  }

  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => s.close()));
  }

  async #listen(at: ListenAt, routes: Record<string, AdminHandler>): Promise<number> {
    const server = await AdminServer.listen({ port: at.port, host: at.host ?? '0.0.0.0', routes });
    this.#servers.push(server);
    return server.port;
  }
}
