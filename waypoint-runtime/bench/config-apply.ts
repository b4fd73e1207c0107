// How long a waypoint takes to apply a pushed config: a big one in full, then one-item deltas (one HTTPRoute
// changed, one workload changed). The path is the real one a push takes: a loopback push stream (TLS, NDJSON) into
// ControllerConfigSource's ConfigClient (parse, validate, applyMessage), then the Waypoint (ConfigState: mesh store,
// resources, binding; the route table compiled), then the ACK. Prints ms per push, median and max of each case, for
// the whole push -> ACK and for the Waypoint's own part (Waypoint.apply). Not a test: figures only.
// Cases: the full config, then deltas of one HTTPRoute, one AuthorizationPolicy, one workload.
//
//   node waypoint-runtime/dist/bench/config-apply.js [services=2000] [workloads=10000] [resources=3000] [rounds=20]

import { performance } from 'node:perf_hooks';
import type { KubeObject, WaypointConfig, WaypointService, WaypointWorkload } from '@ambit/mesh-api';
import { ControllerConfigSource, Waypoint } from '../src/index.js';
import { FakePushServer } from '../test/push-server.js';

const [SERVICES = 2000, WORKLOADS = 10_000, RESOURCES = 3000, ROUNDS = 20] = process.argv.slice(2).map(Number);
const GW = 'gateway.networking.k8s.io/v1';
const NET = 'networking.istio.io/v1';
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

const ns = (i: number) => `ns-${i % 20}`;
const svcName = (i: number) => `svc-${i}`;
const host = (i: number) => `${svcName(i)}.${ns(i)}.svc.cluster.local`;
const ip = (base: number, n: number) => `10.${base}.${(n >> 8) & 255}.${n & 255}`;

function service(i: number): WaypointService {
  return { name: svcName(i), namespace: ns(i), hostname: host(i), vips: [`/${ip(96, i)}`], ports: { '80': 8080 } };
}

function workload(j: number, version = 'v1'): WaypointWorkload {
  const i = j % SERVICES;
  return {
    uid: `Kubernetes//Pod/${ns(i)}/${svcName(i)}-${j}`,
    name: `${svcName(i)}-${j}`,
    namespace: ns(i),
    serviceAccount: svcName(i),
    workloadIps: [ip(244, j)],
    protocol: 'HBONE',
    services: { [`${ns(i)}/${host(i)}`]: { '80': 8080 } },
    labels: { app: svcName(i), version },
  };
}

const created = (k: number) => new Date(Date.UTC(2024, 0, 1) + (k % 997) * 60_000).toISOString();

/** A mix: 1/3 HTTPRoute, 1/3 AuthorizationPolicy, 1/6 VirtualService, 1/6 DestinationRule. */
function resource(k: number, path = '/'): KubeObject {
  const i = k % SERVICES;
  const meta = { namespace: ns(i), creationTimestamp: created(k) };
  switch (k % 6) {
    case 0:
    case 1:
      return {
        apiVersion: GW,
        kind: 'HTTPRoute',
        metadata: { name: `route-${k}`, ...meta },
        spec: {
          parentRefs: [{ group: '', kind: 'Service', name: svcName(i), port: 80 }],
          rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: svcName(i), port: 80, weight: 90 }, { name: svcName((i + 1) % SERVICES), namespace: ns(i), port: 80, weight: 10 }] }],
        },
      } as KubeObject;
    case 2:
    case 3:
      return {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: `authz-${k}`, ...meta },
        spec: { targetRefs: [{ kind: 'Service', group: '', name: svcName(i) }], action: 'ALLOW', rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns(i)}/sa/client`] } }] }] },
      } as KubeObject;
    case 4:
      return {
        apiVersion: NET,
        kind: 'VirtualService',
        metadata: { name: `vs-${k}`, ...meta },
        spec: { hosts: [host(i)], http: [{ match: [{ uri: { prefix: path } }], route: [{ destination: { host: host(i), subset: 'v1' } }] }] },
      } as KubeObject;
    default:
      return {
        apiVersion: NET,
        kind: 'DestinationRule',
        metadata: { name: `dr-${k}`, ...meta },
        spec: { host: host(i), subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
      } as KubeObject;
  }
}

const services = Array.from({ length: SERVICES }, (_, i) => service(i));
const config: WaypointConfig = {
  waypoint: { name: 'wp', namespace: 'ns-0', gatewayClassName: 'istio-waypoint', trafficType: 'service', services: services.map((s) => `${s.namespace}/${s.hostname}`), workloads: [] },
  services,
  workloads: Array.from({ length: WORKLOADS }, (_, j) => workload(j)),
  resources: Array.from({ length: RESOURCES }, (_, k) => resource(k)),
};

const server = await FakePushServer.start();
const source = new ControllerConfigSource({ ...server.target, waypoint: 'ns-0/wp' });
const waypoint = new Waypoint({ identity: { name: 'wp', namespace: 'ns-0' }, source, logger: quiet, accessLog: { write() {} } });
let applyMs = 0;
const apply = waypoint.apply.bind(waypoint);
waypoint.apply = (...args: Parameters<Waypoint['apply']>) => {
  const t0 = performance.now();
  apply(...args);
  applyMs = performance.now() - t0;
};
await waypoint.start();
await server.connected();

let n = 0;
let version = '';
/** One push: ms from writing the line to the ACK, and ms inside Waypoint.apply. */
async function push(body: object): Promise<{ total: number; apply: number }> {
  const next = `v${++n}`;
  const line = JSON.stringify({ nonce: `n${n}`, version: next, ...('full' in body ? {} : { base: version }), ...body });
  applyMs = NaN;
  const t0 = performance.now();
  const reply = await server.push(line);
  const total = performance.now() - t0;
  if (!('ack' in reply)) throw new Error(`push ${next} refused: ${reply.error}`);
  version = next;
  return { total, apply: applyMs };
}

function report(name: string, runs: Array<{ total: number; apply: number }>): void {
  const stat = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `median ${s[s.length >> 1]!.toFixed(2)} ms, max ${s[s.length - 1]!.toFixed(2)} ms`;
  };
  console.log(`${name.padEnd(31)} push->ack ${stat(runs.map((r) => r.total))}; Waypoint.apply ${stat(runs.map((r) => r.apply))}`);
}

console.log(`config: ${SERVICES} services, ${WORKLOADS} workloads, ${RESOURCES} resources (HTTPRoute, AuthorizationPolicy, VirtualService, DestinationRule); ${ROUNDS} rounds`);
const full: Array<{ total: number; apply: number }> = [];
for (let r = 0; r < Math.max(3, ROUNDS >> 2); r++) full.push(await push({ full: config }));
report('full config', full);

const route: Array<{ total: number; apply: number }> = [];
for (let r = 0; r < ROUNDS; r++) route.push(await push({ upserts: { resources: [resource(0, `/p${r}`)] } }));
report('delta: one HTTPRoute', route);

const policy: Array<{ total: number; apply: number }> = [];
for (let r = 0; r < ROUNDS; r++) {
  const ap = resource(2) as KubeObject & { metadata: { labels?: Record<string, string> } };
  policy.push(await push({ upserts: { resources: [{ ...ap, metadata: { ...ap.metadata, labels: { round: String(r) } } }] } }));
}
report('delta: one AuthorizationPolicy', policy);

const wl: Array<{ total: number; apply: number }> = [];
for (let r = 0; r < ROUNDS; r++) wl.push(await push({ upserts: { workloads: [workload(7, r % 2 ? 'v1' : 'v2')] } }));
report('delta: one workload', wl);

await waypoint.close(100);
await server.close();
