// Admin (15000: /config_dump, /quitquitquit), readiness (15021: /healthz/ready), stats (15020: /metrics, /stats/prometheus).
import * as http from 'node:http';
import type * as net from 'node:net';

export interface AdminHandlers {
  ready(): boolean;
  configDump(): unknown;
  metrics(): string;
  quit?(): void;
}

function listen(server: http.Server, addr: { host: string; port: number }): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

export class AdminServers {
  readonly servers: http.Server[] = [];
  constructor(private readonly h: AdminHandlers) {}

  private make(routes: Record<string, (res: http.ServerResponse) => void>): http.Server {
    const s = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const route = routes[path];
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      try {
        route(res);
      } catch (e) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
      }
    });
    this.servers.push(s);
    return s;
  }

  async start(addrs: { admin?: { host: string; port: number }; readiness?: { host: string; port: number }; stats?: { host: string; port: number } }): Promise<Record<string, number>> {
    const ports: Record<string, number> = {};
    const metrics = (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(this.h.metrics());
    const ready = (res: http.ServerResponse) => {
      if (this.h.ready()) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('not ready\n');
    };
    const admin: Record<string, (res: http.ServerResponse) => void> = {
      '/config_dump': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.h.configDump(), null, 2)),
      '/healthz/ready': ready,
      '/quitquitquit': (res) => {
        res.writeHead(200).end('OK\n');
        this.h.quit?.();
      },
    };
    if (addrs.admin) ports.admin = (await listen(this.make(admin), addrs.admin)).port;
    if (addrs.readiness) ports.readiness = (await listen(this.make({ '/healthz/ready': ready }), addrs.readiness)).port;
    if (addrs.stats) ports.stats = (await listen(this.make({ '/metrics': metrics, '/stats/prometheus': metrics }), addrs.stats)).port;
    return ports;
  }

  close(): Promise<void> {
    return Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    ).then(() => undefined);
  }
}
