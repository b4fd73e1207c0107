// Mesh (GAMMA) route scoping, as the upstream Gateway API MESH-HTTP conformance tests MeshPorts and
// MeshConsumerRoute check it: parentRef `port`, producer vs consumer routes (GEP-1294 "Namespace boundaries"),
// and cross-namespace backendRefs without a ReferenceGrant.

import test from 'ava';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { createTestEnv, runPlugin, type FakeRequest } from '@ambit/plugin-sdk/testing';
import { RoutingPlugin } from '../src/index.js';

const MESH = 'gateway-conformance-mesh';
const CONSUMER = 'gateway-conformance-mesh-consumer';
const OTHER = 'gateway-conformance-other';

const svc = (ns: string, name: string, vip: string): ServiceView => ({ name, namespace: ns, hostname: `${name}.${ns}.svc.cluster.local`, vips: [`/${vip}`], ports: { 80: 8080, 8080: 8080 } });
const wl = (ns: string, name: string, ip: string, service: string): WorkloadView => ({
  uid: `${ns}/${name}`,
  name,
  namespace: ns,
  serviceAccount: 'default',
  workloadIps: [ip],
  protocol: 'HBONE',
  services: { [`${ns}/${service}.${ns}.svc.cluster.local`]: { 80: 8080, 8080: 8080 } },
});
const services = [svc(MESH, 'echo-v1', '10.96.5.1'), svc(MESH, 'echo-v2', '10.96.5.2'), svc(CONSUMER, 'echo-v1', '10.96.6.1')];
const workloads = [wl(MESH, 'echo-v1-a', '10.244.5.1', 'echo-v1'), wl(MESH, 'echo-v2-a', '10.244.5.2', 'echo-v2'), wl(CONSUMER, 'echo-v1-c', '10.244.6.1', 'echo-v1')];

const route = (ns: string, name: string, spec: Record<string, unknown>): K8sObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec });
const setHeader = (name: string, value: string) => ({ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name, value }] } });
const client = (ns: string) => `spiffe://cluster.local/ns/${ns}/sa/default`;

function mesh(resources: K8sObject[]) {
  const e = createTestEnv({ services, workloads, resources, waypoint: { name: 'waypoint', namespace: MESH } });
  const plugin = e.create(RoutingPlugin);
  return (req: FakeRequest) => runPlugin(plugin, { principal: client(MESH), ...req }, { env: e });
}

/** What the client sees: status, the header the route sets, and which pod (namespace/name) and port served it. */
async function served(run: ReturnType<typeof mesh>, req: FakeRequest, header = 'x-header-set') {
  const r = await run(req);
  const ep = r.route?.backend.endpoint;
  return { status: r.status, header: r.responseHeaders[header], pod: ep ? `${ep.workload?.namespace}/${ep.workload?.name}:${ep.port}` : undefined, servicePort: r.route?.backend.service?.port };
}

test('MeshPorts: a parentRef with port 80 applies to port 80 only; another port of the Service gets the default route', async (t) => {
  const run = mesh([
    route(MESH, 'mesh-ports-v1', { parentRefs: [{ group: '', kind: 'Service', name: 'echo-v1', port: 80 }], rules: [{ filters: [setHeader('X-Header-Set', 'v1')], backendRefs: [{ name: 'echo-v1', port: 80 }] }] }),
    route(MESH, 'mesh-ports-v2', { parentRefs: [{ group: '', kind: 'Service', name: 'echo-v2' }], rules: [{ filters: [setHeader('X-Header-Set', 'v2')], backendRefs: [{ name: 'echo-v2', port: 80 }] }] }),
  ]);
  t.deepEqual(await served(run, { destination: '10.96.5.1:80', authority: 'echo-v1' }), { status: 200, header: 'v1', pod: `${MESH}/echo-v1-a:8080`, servicePort: 80 });
  t.deepEqual(
    await served(run, { destination: '10.96.5.1:8080', authority: 'echo-v1:8080' }),
    { status: 200, header: undefined, pod: `${MESH}/echo-v1-a:8080`, servicePort: 8080 },
    'port 8080 has no route: forwarded to the Service on 8080, not 404',
  );
  // No port in the parentRef: every port of the Service.
  t.deepEqual(await served(run, { destination: '10.96.5.2:80', authority: 'echo-v2' }), { status: 200, header: 'v2', pod: `${MESH}/echo-v2-a:8080`, servicePort: 80 });
  t.deepEqual(await served(run, { destination: '10.96.5.2:8080', authority: 'echo-v2:8080' }), { status: 200, header: 'v2', pod: `${MESH}/echo-v2-a:8080`, servicePort: 80 });
});

test('MeshPorts: routes on another port do not hide a matching route of the requested port', async (t) => {
  const run = mesh([
    route(MESH, 'p80', { parentRefs: [{ group: '', kind: 'Service', name: 'echo-v1', port: 80 }], rules: [{ matches: [{ path: { type: 'Exact', value: '/only80' } }], backendRefs: [{ name: 'echo-v2', port: 80 }] }] }),
    route(MESH, 'p8080', { parentRefs: [{ group: '', kind: 'Service', name: 'echo-v1', port: 8080 }], rules: [{ matches: [{ path: { type: 'Exact', value: '/only8080' } }], backendRefs: [{ name: 'echo-v2', port: 8080 }] }] }),
  ]);
  t.is((await served(run, { destination: '10.96.5.1:8080', path: '/only8080' })).pod, `${MESH}/echo-v2-a:8080`);
  t.is((await served(run, { destination: '10.96.5.1:8080', path: '/only80' })).status, 404, 'port 8080 has routes, none matches');
  t.is((await served(run, { destination: '10.96.5.1:80', path: '/only80' })).pod, `${MESH}/echo-v2-a:8080`);
});

const consumerRoute = (backend: Record<string, unknown>) =>
  route(CONSUMER, 'mesh-echo-add-header', { parentRefs: [{ group: '', kind: 'Service', name: 'echo-v1', namespace: MESH }], rules: [{ filters: [setHeader('X-Header-Set', 'set')], backendRefs: [backend] }] });

test('MeshConsumerRoute: a route in another namespace than its parent Service applies only to clients of its own namespace', async (t) => {
  // The conformance manifest: the consumer route sends to the producer's echo-v1 (another namespace, no ReferenceGrant).
  const run = mesh([consumerRoute({ name: 'echo-v1', namespace: MESH, port: 80 })]);
  const req = { destination: '10.96.5.1:80', authority: `echo-v1.${MESH}` };
  t.deepEqual(await served(run, { ...req, principal: client(CONSUMER) }), { status: 200, header: 'set', pod: `${MESH}/echo-v1-a:8080`, servicePort: 80 }, 'the consumer route applies');
  t.deepEqual(await served(run, { ...req, principal: client(MESH) }), { status: 200, header: undefined, pod: `${MESH}/echo-v1-a:8080`, servicePort: 80 }, 'the producer namespace gets the default route');
  t.deepEqual(await served(run, { ...req, principal: client(OTHER) }), { status: 200, header: undefined, pod: `${MESH}/echo-v1-a:8080`, servicePort: 80 }, 'an unrelated namespace gets the default route');
});

test('MeshConsumerRoute: producer routes apply to every client except where the client namespace has a consumer route', async (t) => {
  const producer = route(MESH, 'producer', { parentRefs: [{ group: '', kind: 'Service', name: 'echo-v1' }], rules: [{ filters: [setHeader('X-Producer', 'p')], backendRefs: [{ name: 'echo-v2', port: 80 }] }] });
  // This consumer route sends to echo-v1 of its own namespace, so which route served shows in the pod.
  const run = mesh([consumerRoute({ name: 'echo-v1', port: 80 }), producer]);
  const req = { destination: '10.96.5.1:80' };
  const consumer = await served(run, { ...req, principal: client(CONSUMER) }, 'x-producer');
  t.is(consumer.header, undefined, 'consumer routes take precedence for their namespace');
  t.is(consumer.pod, `${CONSUMER}/echo-v1-c:8080`);
  t.deepEqual(await served(run, { ...req, principal: client(MESH) }, 'x-producer'), { status: 200, header: 'p', pod: `${MESH}/echo-v2-a:8080`, servicePort: 80 });
  t.deepEqual(await served(run, { ...req, principal: client(OTHER) }, 'x-producer'), { status: 200, header: 'p', pod: `${MESH}/echo-v2-a:8080`, servicePort: 80 });
});

test('MeshConsumerRoute: a mesh route sends to a Service of another namespace without a ReferenceGrant', async (t) => {
  const run = mesh([consumerRoute({ name: 'echo-v2', namespace: MESH, port: 80 })]);
  t.deepEqual(await served(run, { destination: '10.96.5.1:80', principal: client(CONSUMER) }), { status: 200, header: 'set', pod: `${MESH}/echo-v2-a:8080`, servicePort: 80 });
});
