import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { StaticConfigSource, Waypoint, type WaypointOptions } from '../src/index.js';

export interface Echo {
  server: Server;
  port: number;
  name: string;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}

/** An upstream that answers JSON describing the request. */
export async function echo(name: string, handler?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean): Promise<Echo> {
  const requests: Echo['requests'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (handler?.(req, res, body)) return;
      const out = JSON.stringify({ server: name, method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    name,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function workload(name: string, ip: string, sa: string, services: Record<string, Record<string, number>>, extra: Partial<WorkloadView> = {}): WorkloadView {
  return { uid: `Kubernetes//Pod/default/${name}`, name, namespace: 'default', serviceAccount: sa, workloadIps: [ip], protocol: 'TCP', services, ...extra };
}

export function service(name: string, vip: string, ports: Record<string, number>, ns = 'default'): ServiceView {
  return { name, namespace: ns, hostname: `${name}.${ns}.svc.cluster.local`, vips: [`/${vip}`], ports };
}

export interface Harness {
  waypoint: Waypoint;
  source: StaticConfigSource;
  url: string;
  ports: { http?: number; readiness?: number; metrics?: number };
  accessLog: string[];
  close(): Promise<void>;
}

export async function startWaypoint(
  mesh: { services: ServiceView[]; workloads: WorkloadView[] },
  resources: K8sObject[] = [],
  opts: Partial<WaypointOptions> = {},
): Promise<Harness> {
  const source = new StaticConfigSource({ mesh, resources });
  const accessLog: string[] = [];
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source,
    accessLog: { write: (l) => void accessLog.push(l) },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
    ...opts,
  });
  await waypoint.start();
  const ports = await waypoint.listen({ http: { port: 0, host: '127.0.0.1' }, readiness: { port: 0, host: '127.0.0.1' }, metrics: { port: 0, host: '127.0.0.1' } });
  return { waypoint, source, url: `http://127.0.0.1:${ports.http}`, ports, accessLog, close: () => waypoint.close(200) };
}

/**
 * A port free now. Tests that hand it to a gateway run serially (test.serial): run concurrently, another test's
 * server listening on port 0 could take the port between this check and the gateway binding it.
 */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
