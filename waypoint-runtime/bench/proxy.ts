// Bench proxy under test, one per process so its CPU can be read from /proc:
//   http-proxy <upstreamPort>                 a bare Fastify + @fastify/http-proxy
//   waypoint <plugins> <upstreamPort> [caDir hbonePort]
//        plugins: none | authz | routing | telemetry | all (comma-separated list also accepted)
// Prints one JSON line {"port": n} (plain HTTP) or {"hbone": n} once listening.

import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AuthzPlugin, RoutingPlugin, TelemetryPlugin } from '@ambit/plugins';
import { CertificateManager, LocalCA, loadCA } from '@ambit/mesh-api';
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import type { PluginClass } from '@ambit/plugin-sdk';
import { UPSTREAM_CONNECTIONS } from './like-for-like.js';
import { HboneConnector, HboneTermination, PlainHttpConnector, StaticConfigSource, tuneHeap, Waypoint } from '../src/index.js';

const [mode, a, b, caDir, hbonePort] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };

// Both proxies run like for like: the same heap tuning as main.ts and the same upstream connections.

if (mode === 'http-proxy') {
  tuneHeap();
  const app = Fastify({ logger: false });
  await app.register(httpProxy, { upstream: `http://127.0.0.1:${a}`, undici: { connections: UPSTREAM_CONNECTIONS, pipelining: 1 } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(JSON.stringify({ port: (app.server.address() as AddressInfo).port }) + '\n');
} else if (mode === 'waypoint') {
  tuneHeap(); // as main.ts does: the bench measures the waypoint process as shipped
  const names = (a ?? 'none').split(',');
  const all = names.includes('all');
  const builtin: PluginClass[] = [];
  if (all || names.includes('authz')) builtin.push(AuthzPlugin);
  if (all || names.includes('routing')) builtin.push(RoutingPlugin);
  if (all || names.includes('telemetry')) builtin.push(TelemetryPlugin);
  const upstreamPort = Number(b);
  const hbone = caDir !== undefined;
  const mesh = {
    services: [{ name: 'app', namespace: 'default', hostname: 'app.default.svc.cluster.local', vips: ['/10.96.0.1'], ports: { 80: upstreamPort } }],
    workloads: [
      {
        uid: 'app', name: 'app-0', namespace: 'default', serviceAccount: 'app', workloadIps: ['127.0.0.1'], protocol: hbone ? ('HBONE' as const) : ('TCP' as const),
        canonicalName: 'app', canonicalRevision: 'v1', services: { 'default/app.default.svc.cluster.local': { 80: upstreamPort } },
      },
    ],
  };
  const gw = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' };
  const resources = [
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-admin', namespace: 'default' }, spec: { targetRef: gw, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'allow-get', namespace: 'default' }, spec: { targetRef: gw, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/*'] } }] }] } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'app', namespace: 'default' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'app', port: 80 }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'app', port: 80 }] }] } },
  ];
  let cert: Awaited<ReturnType<CertificateManager['get']>> | undefined;
  if (hbone) {
    const ca = loadCA({ certPem: readFileSync(`${caDir}/ca.pem`, 'utf8'), keyPem: readFileSync(`${caDir}/ca.key`, 'utf8') });
    cert = await new CertificateManager(new LocalCA(ca)).get('spiffe://cluster.local/ns/default/sa/waypoint');
  }
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources }),
    builtin,
    logger: quiet,
    accessLog: { write: () => {} },
    connector: cert ? new HboneConnector({ certificate: () => cert!, hbonePort: Number(hbonePort), connections: UPSTREAM_CONNECTIONS }) : new PlainHttpConnector({ connections: UPSTREAM_CONNECTIONS }),
  });
  await waypoint.start();
  if (cert) {
    const term = new HboneTermination(waypoint, { certificate: cert });
    process.stdout.write(JSON.stringify({ hbone: (await term.listen(0, '127.0.0.1')).port }) + '\n');
  } else {
    const ports = await waypoint.listen({ http: { port: 0, host: '127.0.0.1' } });
    process.stdout.write(JSON.stringify({ port: ports.http }) + '\n');
  }
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}

// Exit cleanly on SIGTERM so `node --cpu-prof` can write its profile.
process.on('SIGTERM', () => process.exit(0));
