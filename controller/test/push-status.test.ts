// Status reports up the push stream, with a real push server and the runtimes' ConfigClient on loopback: a waypoint's
// report counts only for what its stream was sent, hostile or malformed reports are logged and ignored, and a
// report comes back after a reconnect.
import test from 'ava';
import { ConfigClient, type ReportedCondition, type StatusReport, type WaypointConfig } from '@ambit/mesh-api';
import { PushComponent } from '../src/push/index.js';
import { pod, startTestCa, token } from './ca-fixtures.js';

/** The waypoint shop/wp runs as ServiceAccount wp (what the deployment controller renders). */
const ids = new Map([['shop/wp', { serviceAccount: 'wp' }]]);

type Log = { msg: string; fields: Record<string, unknown> };

async function setup(t: { teardown(fn: () => unknown): void }) {
  const env = await startTestCa([pod('istio-system', 'ztunnel-a', 'ztunnel', 'node-a'), pod('shop', 'wp-1', 'wp', 'node-a', { 'gateway.networking.k8s.io/gateway-name': 'wp' })]);
  const warnings: Log[] = [];
  const push = new PushComponent({
    server: env.ca.server,
    authenticator: env.ca.authenticator,
    pods: env.ca.pods,
    log: { info() {}, warn: (msg, fields = {}) => void warnings.push({ msg, fields }) },
  });
  await push.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await push.stop();
    await env.ca.stop();
  };
  t.teardown(stop);
  return { ...env, push, warnings, stop };
}

const plugin = (name: string, generation: number) => ({ apiVersion: 'extensions.ambit.dev/v1alpha1', kind: 'WaypointPlugin', metadata: { name, namespace: 'shop', generation }, spec: {} });

function waypointConfig(resources: WaypointConfig['resources']): WaypointConfig {
  return {
    waypoint: { name: 'wp', namespace: 'shop', gatewayClassName: 'istio-waypoint', trafficType: 'service', services: [], workloads: [] },
    workloads: [],
    services: [],
    resources,
  };
}

function waypointClient(env: { address: string; ca: { rootPem: string } }, t: { teardown(fn: () => unknown): void }, over: Record<string, unknown> = {}) {
  const c = new ConfigClient<WaypointConfig>({
    address: env.address,
    rootCert: env.ca.rootPem,
    token: token('shop', 'wp', 'wp-1', 'uid-wp-1'),
    kind: 'waypoint',
    waypoint: 'shop/wp',
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    ...over,
  } as never);
  t.teardown(() => c.stop());
  return c;
}

const active = (name: string, over: Partial<ReportedCondition> = {}): ReportedCondition => ({
  kind: 'WaypointPlugin',
  namespace: 'shop',
  name,
  observedGeneration: 1,
  type: 'Active',
  status: 'True',
  reason: 'Loaded',
  message: `${name}@1.0.0 active`,
  ...over,
});

async function waitFor(cond: () => boolean, what = 'condition'): Promise<void> {
  const until = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test.serial('a waypoint reports on the plugins it was sent; entries about anything else count for nothing', async (t) => {
  const env = await setup(t);
  env.push.update({ mesh: {}, identities: ids, waypoints: new Map([['shop/wp', waypointConfig([plugin('hdr', 3), plugin('old', 1)])]]) });
  const c = waypointClient(env, t);
  await c.start();
  await c.ready();
  let changes = 0;
  const off = env.push.reports.onChange(() => void changes++);
  t.teardown(off);
  c.reportStatus({
    conditions: [
      active('hdr', { observedGeneration: 3 }),
      active('not-sent', { status: 'False', reason: 'FetchFailed', message: 'cannot fetch' }), // never sent to this waypoint
      active('old', { observedGeneration: 2 }), // a generation newer than the one sent
    ],
  });
  await waitFor(() => env.push.push.statusReports().length > 0, 'the report');
  const expected = [{ waypoint: 'shop/wp', client: 'waypoint/shop/wp', conditions: [active('hdr', { observedGeneration: 3 })] }];
  t.deepEqual(env.push.push.statusReports(), expected);
  // The leader's status writer reads the control plane's view, where the push server registers its reports.
  t.deepEqual(env.push.reports.list().filter((r) => r.waypoint === 'shop/wp'), expected);
  t.true(changes > 0);

  // The plugin leaves the waypoint's config: its entry stops counting before the waypoint says anything.
  const before = changes;
  env.push.update({ mesh: {}, identities: ids, waypoints: new Map([['shop/wp', waypointConfig([plugin('old', 1)])]]) });
  await waitFor(() => env.push.push.statusReports().length === 0, 'the entry to go');
  t.true(changes > before);
});

test.serial('a malformed or hostile status report is logged and ignored; the last good one stays and the stream works on', async (t) => {
  const env = await setup(t);
  env.push.update({ mesh: {}, identities: ids, waypoints: new Map([['shop/wp', waypointConfig([plugin('hdr', 1)])]]) });
  const c = waypointClient(env, t);
  await c.start();
  await c.ready();
  c.reportStatus({ conditions: [active('hdr')] });
  await waitFor(() => env.push.push.statusReports().length === 1, 'the good report');

  const hostile: unknown[] = [
    'Loaded',
    { conditions: 'all' },
    { conditions: [{ ...active('hdr'), kind: 'Secret' }] },
    { conditions: [{ ...active('hdr'), namespace: 'kube-system/../x' }] },
    { conditions: [{ ...active('hdr'), status: 'Maybe' }] },
    { conditions: [{ ...active('hdr'), observedGeneration: -4 }] },
    { conditions: [active('hdr'), active('hdr', { status: 'False', reason: 'Evil' })] },
  ];
  for (const h of hostile) c.reportStatus(h as StatusReport);
  await waitFor(() => env.warnings.filter((w) => w.msg === 'status report ignored: invalid').length === hostile.length, 'every hostile report refused');
  t.deepEqual(
    env.warnings.filter((w) => w.msg === 'status report ignored: invalid').map((w) => w.fields.error),
    [
      'status must be an object',
      'status.conditions must be a list',
      'status.conditions[0].kind is not a kind runtimes report on',
      'status.conditions[0].namespace is not a namespace name',
      'status.conditions[0].status must be True, False or Unknown',
      'status.conditions[0].observedGeneration must be a non-negative integer',
      'status.conditions[1] repeats WaypointPlugin/shop/hdr/Active',
    ],
  );
  t.true(env.warnings.every((w) => w.fields.client === 'waypoint/shop/wp'));
  t.deepEqual(env.push.push.statusReports()[0]!.conditions, [active('hdr')]);

  // The stream still carries config and acknowledgements.
  const acked = new Promise<string>((resolve) => env.push.push.onAck((e) => e.client === 'waypoint/shop/wp' && !e.error && resolve(e.version)));
  const v = env.push.update({ mesh: {}, identities: ids, waypoints: new Map([['shop/wp', waypointConfig([plugin('hdr', 1), plugin('more', 1)])]]) });
  t.is(await acked, v);
  t.is(c.config!.resources.length, 2);
});

test.serial('a ztunnel cannot report status', async (t) => {
  const env = await setup(t);
  env.push.update({ mesh: {}, identities: ids, waypoints: new Map() });
  const z = new ConfigClient({ address: env.address, rootCert: env.ca.rootPem, token: token('istio-system', 'ztunnel', 'ztunnel-a'), kind: 'ztunnel', node: 'node-a' });
  t.teardown(() => z.stop());
  await z.start();
  await z.ready();
  z.reportStatus({ conditions: [active('hdr')] });
  await waitFor(() => env.warnings.some((w) => w.msg === 'status report ignored: only waypoints report status'), 'the refusal');
  t.deepEqual(env.push.push.statusReports(), []);
});

test.serial('a waypoint sends its report again after a reconnect; a stopped server withdraws its reports', async (t) => {
  const env = await setup(t);
  env.push.update({ mesh: {}, identities: ids, waypoints: new Map([['shop/wp', waypointConfig([plugin('hdr', 1)])]]) });
  const c = waypointClient(env, t);
  await c.start();
  await c.ready();
  c.reportStatus({ conditions: [active('hdr', { status: 'False', reason: 'IntegrityMismatch', message: 'integrity mismatch' })] });
  await waitFor(() => env.push.push.statusReports().length === 1, 'the report');
  const connects = c.stats.connects;
  // A restarting controller drops every stream and forgets their reports.
  env.push.push.closeAll();
  t.deepEqual(env.push.push.statusReports(), []);
  await waitFor(() => c.stats.connects > connects && env.push.push.statusReports().length === 1, 'the report after the reconnect');
  t.like(env.push.push.statusReports()[0]!.conditions[0], { status: 'False', reason: 'IntegrityMismatch' });
  t.true(env.push.reports.list().some((r) => r.waypoint === 'shop/wp'));
  await env.stop();
  t.false(env.push.reports.list().some((r) => r.waypoint === 'shop/wp'));
});
