// Pushed deltas reach the waypoint as deltas (issue 13): through a loopback push stream into ControllerConfigSource,
// each one is applied in place, and what a request sees afterwards is what a full config of the same state gives.

import test, { type ExecutionContext } from 'ava';
import { request } from 'undici';
import { resourceKey, type PushMessage, type WaypointConfig } from '@ambit/mesh-api';
import { InMemoryResources, type K8sObject, type Logger, type ServiceView, type WorkloadView } from '@ambit/plugin-sdk';
import { ControllerConfigSource, Waypoint } from '../src/index.js';
import { echo, service, workload } from './helpers.js';
import { FakePushServer } from './push-server.js';

const key = (name: string) => `default/${name}.default.svc.cluster.local`;

function httpRoute(name: string, parent: string, path: string, backend: string, extra: Record<string, unknown> = {}): K8sObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: parent, port: 9080 }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: path }, ...extra }], backendRefs: [{ name: backend, port: 9080 }] }] },
  };
}

const destinationRule: K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'default' }, spec: { host: 'reviews' } };

function config(services: ServiceView[], workloads: WorkloadView[], resources: K8sObject[], bound = services.map((s) => `${s.namespace}/${s.hostname}`)): WaypointConfig {
  return {
    waypoint: { name: 'waypoint', namespace: 'default', gatewayClassName: 'istio-waypoint', trafficType: 'service', services: bound, workloads: [] },
    services,
    workloads,
    resources: resources as WaypointConfig['resources'],
  };
}

async function setup(t: ExecutionContext) {
  const server = await FakePushServer.start();
  const source = new ControllerConfigSource({ ...server.target, waypoint: 'default/waypoint' });
  const logs: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug() {},
    info: (msg, fields) => void logs.push({ msg, fields }),
    warn: (msg, fields) => void logs.push({ msg, fields }),
    error() {},
    child: () => logger,
  };
  const waypoint = new Waypoint({ identity: { name: 'waypoint', namespace: 'default' }, source, logger, accessLog: { write() {} } });
  await waypoint.start();
  const { http } = await waypoint.listen({ http: { port: 0, host: '127.0.0.1' } });
  await server.connected();
  t.teardown(async () => {
    await waypoint.close(200);
    await server.close();
  });
  let n = 0;
  let held = '';
  const push = async (msg: Omit<PushMessage<Partial<WaypointConfig>>, 'nonce' | 'version'>) => {
    const version = `v${++n}`;
    const reply = await server.push({ nonce: `n${n}`, version, ...msg });
    if ('ack' in reply) held = version;
    return reply;
  };
  return {
    waypoint,
    source,
    logs,
    full: (cfg: WaypointConfig) => push({ full: cfg }),
    delta: (d: Pick<PushMessage<Partial<WaypointConfig>>, 'upserts' | 'removals'>, base = held) => push({ base, ...d }),
    /** The upstream that answered `path` on `host`, or the status when none did. */
    async get(host: string, path = '/'): Promise<string | number> {
      const r = await request(`http://127.0.0.1:${http}${path}`, { headers: { host } });
      const body = await r.body.text();
      return r.statusCode === 200 ? (JSON.parse(body) as { server: string }).server : r.statusCode;
    },
    applied: () => logs.filter((l) => l.msg === 'config applied').map((l) => l.fields),
  };
}

test('a pushed delta that removes an HTTPRoute: requests are no longer routed by it, and the other objects stay', async (t) => {
  const ratings = await echo('ratings');
  const reviews = await echo('reviews');
  t.teardown(() => Promise.all([ratings.close(), reviews.close()]));
  const w = await setup(t);
  const route = httpRoute('ratings-to-reviews', 'ratings', '/x', 'reviews');
  const mesh = {
    services: [service('ratings', '10.96.0.35', { 9080: 0 }), service('reviews', '10.96.0.36', { 9080: 0 })],
    workloads: [workload('ratings', '127.0.0.1', 'ratings', { [key('ratings')]: { 9080: ratings.port } }), workload('reviews', '127.0.0.1', 'reviews', { [key('reviews')]: { 9080: reviews.port } })],
  };
  t.deepEqual(await w.full(config(mesh.services, mesh.workloads, [route, destinationRule])), { ack: 'n1' });
  t.is(await w.get('ratings:9080', '/x'), 'reviews');

  const other = httpRoute('reviews-y', 'reviews', '/y', 'ratings');
  t.deepEqual(await w.delta({ upserts: { resources: [other] as WaypointConfig['resources'] }, removals: { resources: [resourceKey(route)] } }), { ack: 'n2' });
  t.is(await w.get('ratings:9080', '/x'), 'ratings', 'the removed route no longer applies');
  t.is(await w.get('reviews:9080', '/y'), 'ratings', 'the added one does');
  t.deepEqual(w.waypoint.resources.list('DestinationRule'), [destinationRule]);
  t.deepEqual(w.applied().at(-1), { version: 'v2', services: 2, workloads: 2, resources: 2, delta: true });

  // What the waypoint holds, kind by kind and in order, is what the client's whole config gives.
  const whole = new InMemoryResources(w.source.client.config!.resources as K8sObject[]);
  for (const kind of ['HTTPRoute', 'DestinationRule']) t.deepEqual(w.waypoint.resources.list(kind).map(resourceKey), whole.list(kind).map(resourceKey));
});

test('a pushed delta that adds a workload makes it an endpoint of its Service; removing it takes it away', async (t) => {
  const details = await echo('details');
  t.teardown(() => details.close());
  const w = await setup(t);
  const svc = service('details', '10.96.0.37', { 9080: 0 });
  await w.full(config([svc], [], []));
  t.is(await w.get('details:9080'), 503, 'no endpoint yet');
  const pod = workload('details', '127.0.0.1', 'details', { [key('details')]: { 9080: details.port } });
  t.deepEqual(await w.delta({ upserts: { workloads: [pod] } }), { ack: 'n2' });
  t.is(await w.get('details:9080'), 'details');
  t.deepEqual(await w.delta({ removals: { workloads: [pod.uid] } }), { ack: 'n3' });
  t.is(await w.get('details:9080'), 503);
  t.deepEqual(w.applied().map((f) => [f?.version, f?.workloads, f?.delta]), [['v1', 0, false], ['v2', 1, true], ['v3', 0, true]]);
});

test('a delta on another base than the one held is NACKed and changes nothing; the full config after it applies', async (t) => {
  const ratings = await echo('ratings');
  const reviews = await echo('reviews');
  t.teardown(() => Promise.all([ratings.close(), reviews.close()]));
  const w = await setup(t);
  const route = httpRoute('ratings-to-reviews', 'ratings', '/x', 'reviews');
  const services = [service('ratings', '10.96.0.35', { 9080: 0 }), service('reviews', '10.96.0.36', { 9080: 0 })];
  const workloads = [workload('ratings', '127.0.0.1', 'ratings', { [key('ratings')]: { 9080: ratings.port } }), workload('reviews', '127.0.0.1', 'reviews', { [key('reviews')]: { 9080: reviews.port } })];
  await w.full(config(services, workloads, [route]));
  t.deepEqual(await w.delta({ removals: { resources: [resourceKey(route)] } }, 'v0'), { nack: 'n2', error: 'delta for base v0 but holding version v1' });
  t.is(await w.get('ratings:9080', '/x'), 'reviews', 'still routed by the route');
  t.is(w.applied().length, 1);
  t.deepEqual(await w.full(config(services, workloads, [])), { ack: 'n3' });
  t.is(await w.get('ratings:9080', '/x'), 'ratings');
  t.is(w.applied().at(-1)?.delta, false);
});

test('a workload-only delta keeps the compiled route table; a route delta compiles it again', async (t) => {
  const w = await setup(t);
  // A route that does not compile: every table build logs it once.
  const bad = httpRoute('bad', 'ratings', '/', 'ratings', { headers: [{ value: 'x' }] });
  const refused = () => w.logs.filter((l) => l.msg === 'route refused' && l.fields?.object === 'HTTPRoute default/bad').length;
  const svc = service('ratings', '10.96.0.35', { 9080: 0 });
  await w.full(config([svc], [], [bad]));
  t.is(refused(), 1);
  await w.delta({ upserts: { workloads: [workload('ratings', '127.0.0.1', 'ratings', { [key('ratings')]: { 9080: 1 } })] } });
  t.is(refused(), 1, 'the table did not depend on the workload');
  await w.delta({ upserts: { services: [{ ...svc, ports: { 9080: 0, 9090: 0 } }] } });
  t.is(refused(), 2, 'a Service change compiles it again');
  await w.delta({ upserts: { resources: [httpRoute('good', 'ratings', '/g', 'ratings')] as WaypointConfig['resources'] } });
  t.is(refused(), 3, 'so does a route change');
});

test('a delta that changes the binding changes what the waypoint admits; one that does not keeps it', async (t) => {
  const w = await setup(t);
  const services = [service('ratings', '10.96.0.35', { 9080: 0 }), service('reviews', '10.96.0.36', { 9080: 0 })];
  const cfg = config(services, [], [], [key('ratings'), key('reviews')]);
  await w.full(cfg);
  t.true(w.waypoint.admit('10.96.0.36:9080').ok);
  await w.delta({ upserts: { waypoint: { ...cfg.waypoint, services: [key('ratings')] } } });
  t.deepEqual(w.waypoint.admit('10.96.0.36:9080'), { ok: false, reason: 'service default/reviews.default.svc.cluster.local is not bound to this waypoint' });
  await w.delta({ upserts: { services: [service('details', '10.96.0.37', { 9080: 0 })] } });
  t.false(w.waypoint.admit('10.96.0.36:9080').ok, 'still unbound after a delta without the waypoint');
  t.true(w.waypoint.admit('10.96.0.35:9080').ok);
});

test('an AuthorizationPolicy the waypoint cannot enforce as written is reported when it arrives, before any request', async (t) => {
  const w = await setup(t);
  const custom: K8sObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'ext', namespace: 'default' },
    spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], action: 'CUSTOM', provider: { name: 'x' }, rules: [{}] },
  };
  const reported = () => w.logs.filter((l) => l.msg === 'unsupported CUSTOM action, enforced as DENY' && l.fields?.policy === 'default/ext').length;
  await w.full(config([service('ratings', '10.96.0.35', { 9080: 0 })], [], []));
  t.is(reported(), 0);
  await w.delta({ upserts: { resources: [custom] as WaypointConfig['resources'] } });
  t.is(reported(), 1, 'compiled and reported on the delta, no request sent');
  await w.delta({ upserts: { services: [service('details', '10.96.0.37', { 9080: 0 })] } });
  t.is(reported(), 1, 'policies are compiled again only when the resources change');
});
