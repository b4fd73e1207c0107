// Admin (15000: /config_dump, /quitquitquit), readiness (15021: /healthz/ready), stats (15020: /metrics, /stats/prometheus):
// what each of ztunnel's ports answers, served by mesh-api's AdminServer.
import { AdminServer, type AdminHandler } from '@ambit/mesh-api';

export interface AdminHandlers {
  ready(): boolean;
  configDump(): unknown;
  metrics(): string | Promise<string>;
  quit?(): void;
}

type HostPort = { host: string; port: number };

export class AdminServers {
  readonly #servers: AdminServer[] = [];
  constructor(private readonly h: AdminHandlers) {}

  async #serve(at: HostPort, routes: Record<string, AdminHandler>): Promise<number> {
    const s = await AdminServer.listen({ host: at.host, port: at.port, routes });
    this.#servers.push(s);
    return s.port;
  }

  async start(addrs: { admin?: HostPort; readiness?: HostPort; stats?: HostPort }): Promise<Record<string, number>> {
    const ports: Record<string, number> = {};
    const metrics: AdminHandler = async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: await this.h.metrics() });
    const ready: AdminHandler = () => (this.h.ready() ? { contentType: 'text/plain', body: 'ready\n' } : { status: 503, contentType: 'text/plain', body: 'not ready\n' });
    const admin: Record<string, AdminHandler> = {
      '/config_dump': () => ({ contentType: 'application/json', body: JSON.stringify(this.h.configDump(), null, 2) }),
      '/healthz/ready': ready,
      '/quitquitquit': () => ({ body: 'OK\n', after: () => this.h.quit?.() }),
    };
    if (addrs.admin) ports.admin = await this.#serve(addrs.admin, admin);
    if (addrs.readiness) ports.readiness = await this.#serve(addrs.readiness, { '/healthz/ready': ready });
    if (addrs.stats) ports.stats = await this.#serve(addrs.stats, { '/metrics': metrics, '/stats/prometheus': metrics });
    return ports;
  }

  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => s.close()));
  }
}
