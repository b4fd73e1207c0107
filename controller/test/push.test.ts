import test from 'ava';
import { ConfigClient, type MeshConfig, type WaypointConfig, type Workload } from '@ambit/mesh-api';
import { PushComponent } from '../src/push/index.js';
import { startTestCa, token, pod } from './ca-fixtures.js';

const wl = (name: string, ip: string, extra: Partial<Workload> = {}): Workload => ({
  uid: `Kubernetes//Pod/default/${name}`,
  name,
  namespace: 'default',
  serviceAccount: name,
  workloadIps: [ip],
  protocol: 'HBONE',
  ...extra,
});

const mesh = (...workloads: Workload[]): MeshConfig => ({ workloads, services: [], policies: [] });

async function setup(t: { teardown(fn: () => unknown): void }) {
  const env = await startTestCa([pod('istio-system', 'ztunnel-a', 'ztunnel', 'node-a'), pod('default', 'wp-1', 'wp', 'node-a', { 'gateway.networking.k8s.io/gateway-name': 'wp' })]);
  const push = new PushComponent({ server: env.ca.server, authenticator: env.ca.authenticator, pods: env.ca.pods, log: { info() {}, warn() {} } });
  await push.start();
  t.teardown(async () => {
    await push.stop();
    await env.ca.stop();
  });
  return { ...env, push };
}

function client<C extends object = MeshConfig>(env: { address: string; ca: { rootPem: string } }, over: Record<string, unknown> = {}) {
  return new ConfigClient<C>({
    address: env.address,
    rootCert: env.ca.rootPem,
    token: token('istio-system', 'ztunnel', 'ztunnel-a'),
    kind: 'ztunnel',
    node: 'node-a',
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    ...over,
  } as never);
}

/** Resolves with the next update satisfying `pred`. */
function nextUpdate<C extends object>(c: ConfigClient<C>, pred: (cfg: C, u: { full: boolean; version: string }) => boolean = () => true) {
  return new Promise<{ cfg: C; full: boolean; version: string }>((resolve) => {
    const off = c.onUpdate((cfg, u) => {
      if (pred(cfg, u)) {
        off();
        resolve({ cfg, full: u.full, version: u.version });
      }
    });
  });
}

test('a ztunnel gets a full config first, then deltas, and acknowledges each', async (t) => {
  const env = await setup(t);
  const acks: { version: string; full: boolean; error?: string }[] = [];
  env.push.push.onAck((e) => acks.push(e));
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1'), wl('b', '10.0.0.2')), waypoints: new Map() });
  const c = client(env);
  t.teardown(() => c.stop());
  const first = nextUpdate(c);
  await c.start();
  const u1 = await first;
  t.true(u1.full);
  t.deepEqual(u1.cfg.workloads!.map((w) => w.name).sort(), ['a', 'b']);

  const deltas: unknown[] = [];
  c.onUpdate((_cfg, u) => void deltas.push({ full: u.full, upserts: u.upserts, removals: u.removals }));
  const second = nextUpdate(c);
  const v2 = env.push.update({ mesh: mesh(wl('a', '10.0.0.1'), wl('c', '10.0.0.3')), waypoints: new Map() });
  const u2 = await second;
  t.false(u2.full);
  t.is(u2.version, v2);
  t.deepEqual(u2.cfg.workloads!.map((w) => w.name).sort(), ['a', 'c']);
  t.deepEqual(deltas, [{ full: false, upserts: { workloads: [wl('c', '10.0.0.3')] }, removals: { workloads: ['Kubernetes//Pod/default/b'] } }]);
  await waitFor(() => acks.length === 2);
  t.deepEqual(acks.map((a) => [a.full, a.error]), [[true, undefined], [false, undefined]]);
  t.is(env.push.push.clients()[0]!.ackedVersion, v2);
});

test('an unchanged model sends nothing; the next real change is a delta against what the client holds', async (t) => {
  const env = await setup(t);
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1')), waypoints: new Map() });
  const c = client(env);
  t.teardown(() => c.stop());
  const first = nextUpdate(c);
  await c.start();
  const { version: v1 } = await first;
  let updates = 0;
  c.onUpdate(() => void updates++);
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1')), waypoints: new Map() });
  const next = nextUpdate(c);
  const v3 = env.push.update({ mesh: mesh(wl('a', '10.0.0.9')), waypoints: new Map() });
  const u = await next;
  t.is(updates, 1);
  t.false(u.full);
  t.is(u.version, v3);
  t.not(v1, v3);
  t.deepEqual(u.cfg.workloads![0]!.workloadIps, ['10.0.0.9']);
});

test('a config the runtime rejects is NACKed, the last good one kept, and the server resends a full', async (t) => {
  const env = await setup(t);
  const acks: { full: boolean; error?: string }[] = [];
  env.push.push.onAck((e) => acks.push(e));
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1')), waypoints: new Map() });
  // The runtime refuses any workload named "bad".
  const c = client(env, { validate: (cfg: MeshConfig) => {
    if (cfg.workloads?.some((w) => w.name === 'bad')) throw new Error('workload "bad" refused');
  } });
  t.teardown(() => c.stop());
  const first = nextUpdate(c);
  await c.start();
  const u1 = await first;
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1'), wl('bad', '10.0.0.66')), waypoints: new Map() });
  await waitFor(() => acks.some((a) => a.error));
  // The delta was refused; the server answered with a full of the same version, also refused.
  await waitFor(() => acks.length >= 3);
  t.deepEqual(acks.map((a) => [a.full, a.error ?? 'ok']), [[true, 'ok'], [false, 'workload "bad" refused'], [true, 'workload "bad" refused']]);
  t.is(c.version, u1.version);
  t.deepEqual(c.config!.workloads!.map((w) => w.name), ['a']);
  // The next good model reaches it as a full (its state was unknown to the server).
  const next = nextUpdate(c);
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1'), wl('good', '10.0.0.7')), waypoints: new Map() });
  const u3 = await next;
  t.true(u3.full);
  t.deepEqual(u3.cfg.workloads!.map((w) => w.name).sort(), ['a', 'good']);
});

test('a client reconnecting after the controller went away keeps its config, then resyncs with a full', async (t) => {
  const env = await setup(t);
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1')), waypoints: new Map() });
  const c = client(env);
  t.teardown(() => c.stop());
  const first = nextUpdate(c);
  await c.start();
  await first;
  const before = c.stats.connects;
  // Drop every stream (as a restarting controller would); the model changes meanwhile.
  env.push.push.closeAll();
  env.push.update({ mesh: mesh(wl('a', '10.0.0.1'), wl('z', '10.0.0.26')), waypoints: new Map() });
  t.deepEqual(c.config!.workloads!.map((w) => w.name), ['a']);
  const resync = await nextUpdate(c);
  t.true(resync.full);
  t.true(c.stats.connects > before);
  t.deepEqual(resync.cfg.workloads!.map((w) => w.name).sort(), ['a', 'z']);
});

test('a waypoint gets only its own WaypointConfig; others are refused', async (t) => {
  const env = await setup(t);
  const wp: WaypointConfig = {
    waypoint: { name: 'wp', namespace: 'default', gatewayClassName: 'istio-waypoint', trafficType: 'service', services: [], workloads: [] },
    workloads: [wl('a', '10.0.0.1')],
    services: [],
    resources: [{ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'default' }, spec: {} }],
  };
  const identities = new Map([['default/wp', { serviceAccount: 'wp' }]]);
  env.push.update({ mesh: mesh(), waypoints: new Map([['default/wp', wp]]), identities });
  const c = client<WaypointConfig>(env, { kind: 'waypoint', waypoint: 'default/wp', node: undefined, token: token('default', 'wp', 'wp-1', 'uid-wp-1') });
  t.teardown(() => c.stop());
  const first = nextUpdate(c);
  await c.start();
  const u = await first;
  t.is(u.cfg.waypoint.name, 'wp');
  t.is(u.cfg.resources.length, 1);
  // A resource change arrives as a delta of the `resources` collection.
  const next = nextUpdate(c);
  env.push.update({ mesh: mesh(), waypoints: new Map([['default/wp', { ...wp, resources: [] }]]), identities });
  const u2 = await next;
  t.false(u2.full);
  t.deepEqual(u2.cfg.resources, []);

  // Another namespace's account may not read it, nor the ztunnel config.
  const { ConfigClient: _C } = await import('@ambit/mesh-api');
  const refused: string[] = [];
  const bad = client<WaypointConfig>(env, {
    kind: 'waypoint',
    waypoint: 'default/wp',
    token: token('other', 'wp'),
    log: { info() {}, warn: (m: string, f: Record<string, unknown>) => refused.push(String(f.reason)) },
  });
  t.teardown(() => bad.stop());
  await bad.start();
  await waitFor(() => refused.length > 0);
  t.regex(refused[0]!, /HTTP 403 .*may not receive the config of waypoint default\/wp/);
  const bad2: string[] = [];
  const z = client(env, { token: token('default', 'sleep'), log: { info() {}, warn: (_m: string, f: Record<string, unknown>) => bad2.push(String(f.reason)) } });
  t.teardown(() => z.stop());
  await z.start();
  await waitFor(() => bad2.length > 0);
  t.regex(bad2[0]!, /HTTP 403 .*not a trusted node account/);
  const noauth: string[] = [];
  const n = client(env, { token: 'garbage', log: { info() {}, warn: (_m: string, f: Record<string, unknown>) => noauth.push(String(f.reason)) } });
  t.teardown(() => n.stop());
  await n.start();
  await waitFor(() => noauth.length > 0);
  t.regex(noauth[0]!, /HTTP 401 .*authentication failure/);
});

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
