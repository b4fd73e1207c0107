// WaypointPlugin status from the waypoints' reports: what a report may say (parseStatusReport), and how the
// reports of several waypoints fold into the one Active condition (waypointPluginActive).
import test from 'ava';
import type { ReportedCondition, WaypointConfig } from '@ambit/mesh-api';
import { MAX_REPORTED_CONDITIONS, MAX_REPORTED_MESSAGE, parseStatusReport, ReportError } from '../src/push/status.js';
import type { KubeObject } from '../src/kube/resources.js';
import { pluginWaypoints, reportsByPlugin, waypointPluginActive, type PluginReport } from '../src/status/plugins.js';

const cond = (over: Partial<ReportedCondition> = {}): ReportedCondition => ({
  kind: 'WaypointPlugin',
  namespace: 'shop',
  name: 'add-header',
  observedGeneration: 2,
  type: 'Active',
  status: 'True',
  reason: 'Loaded',
  message: '@acme/add-header@1.2.0 active',
  ...over,
});

test('a well-formed report is accepted as sent', (t) => {
  const c = cond();
  t.deepEqual(parseStatusReport({ conditions: [c] }), [c]);
  t.deepEqual(parseStatusReport({ conditions: [] }), []);
  const { observedGeneration: _g, ...noGen } = c;
  t.deepEqual(parseStatusReport({ conditions: [noGen] }), [noGen]);
});

test('a malformed or hostile report is refused with the first problem named', (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /status must be an object/],
    ['Loaded', /status must be an object/],
    [[cond()], /status must be an object/],
    [{}, /conditions must be a list/],
    [{ conditions: [null] }, /\[0\] must be an object/],
    [{ conditions: [cond({ kind: 'Secret' })] }, /kind is not a kind/],
    [{ conditions: [cond({ kind: '__proto__' })] }, /kind is not a kind/],
    [{ conditions: [cond({ kind: 'AuthorizationPolicy' })] }, /kind is not a kind/],
    [{ conditions: [cond({ namespace: '../kube-system' })] }, /namespace is not a namespace name/],
    [{ conditions: [cond({ namespace: 'a'.repeat(64) })] }, /namespace/],
    [{ conditions: [cond({ name: 'Has Spaces' })] }, /name is not an object name/],
    [{ conditions: [cond({ type: 'Ready' })] }, /type is not a condition type of WaypointPlugin/],
    [{ conditions: [cond({ status: 'true' as never })] }, /status must be True, False or Unknown/],
    [{ conditions: [cond({ reason: 'has space' })] }, /reason is not a condition reason/],
    [{ conditions: [cond({ reason: '' })] }, /reason/],
    [{ conditions: [cond({ message: 42 as never })] }, /message must be a string/],
    [{ conditions: [cond({ observedGeneration: -1 })] }, /observedGeneration/],
    [{ conditions: [cond({ observedGeneration: 1.5 })] }, /observedGeneration/],
    [{ conditions: [cond({ observedGeneration: '2' as never })] }, /observedGeneration/],
    [{ conditions: [cond(), cond({ status: 'False' })] }, /\[1\] repeats WaypointPlugin\/shop\/add-header\/Active/],
    [{ conditions: Array.from({ length: MAX_REPORTED_CONDITIONS + 1 }, (_, i) => cond({ name: `p${i}` })) }, /at most 512/],
  ];
  for (const [payload, re] of bad) {
    const err = t.throws(() => parseStatusReport(payload), { instanceOf: ReportError }, JSON.stringify(payload)?.slice(0, 80));
    t.regex(err!.message, re);
  }
});

test('messages lose control characters and are cut to a bounded length', (t) => {
  const [c] = parseStatusReport({ conditions: [cond({ message: 'line one\n\u001b[31mred\u0000' })] });
  t.is(c!.message, 'line one [31mred');
  const [long] = parseStatusReport({ conditions: [cond({ message: 'x'.repeat(100_000) })] });
  t.is(long!.message.length, MAX_REPORTED_MESSAGE);
  t.true(long!.message.endsWith('…'));
});

// ---- aggregation -------------------------------------------------------------------------------------------------

const plugin = (spec: Record<string, unknown> = { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }] }, generation = 2): KubeObject => ({
  apiVersion: 'extensions.ambit.dev/v1alpha1',
  kind: 'WaypointPlugin',
  metadata: { name: 'add-header', namespace: 'shop', generation },
  spec,
});

const rep = (waypoint: string, over: Partial<ReportedCondition> = {}, client = `waypoint/${waypoint}`): PluginReport => ({ waypoint, client, condition: cond(over) });

test('a plugin that reaches no waypoint is Active=False TargetNotFound, saying what it targets', (t) => {
  t.deepEqual(waypointPluginActive({ plugin: plugin(), waypoints: [], reports: [] }), {
    type: 'Active',
    status: 'False',
    reason: 'TargetNotFound',
    message: 'no waypoint matches its targetRefs (Gateway shop/waypoint): the target does not exist, is not a waypoint, or is not bound to one',
    observedGeneration: 2,
  });
  t.like(waypointPluginActive({ plugin: plugin({}), waypoints: [], reports: [] }), { status: 'False', reason: 'TargetNotFound', message: 'no waypoint in namespace shop' });
  // Reports from a waypoint the model no longer sends it to do not count.
  t.like(waypointPluginActive({ plugin: plugin(), waypoints: [], reports: [rep('shop/waypoint')] }), { status: 'False', reason: 'TargetNotFound' });
});

test('before any waypoint reports: Pending, unless the waypoints had their say already (a restarted controller keeps it)', (t) => {
  t.deepEqual(waypointPluginActive({ plugin: plugin(), waypoints: ['shop/waypoint'], reports: [] }), {
    type: 'Active',
    status: 'Unknown',
    reason: 'Pending',
    message: 'waiting for waypoint shop/waypoint to load it',
    observedGeneration: 2,
  });
  const loaded = { type: 'Active', status: 'True' as const, reason: 'Loaded', message: 'x', observedGeneration: 1 };
  t.is(waypointPluginActive({ plugin: plugin(), waypoints: ['shop/waypoint'], reports: [], existing: loaded }), undefined);
  // A condition the controller set itself is replaced.
  const notFound = { type: 'Active', status: 'False' as const, reason: 'TargetNotFound', message: 'x', observedGeneration: 2 };
  t.like(waypointPluginActive({ plugin: plugin(), waypoints: ['shop/waypoint'], reports: [], existing: notFound }), { status: 'Unknown', reason: 'Pending' });
  // Reports from other waypoints do not count.
  t.like(waypointPluginActive({ plugin: plugin(), waypoints: ['shop/waypoint'], reports: [rep('shop/other')] }), { status: 'Unknown', reason: 'Pending' });
});

test('all waypoints loaded it: True/Loaded, naming them', (t) => {
  const c = waypointPluginActive({ plugin: plugin(), waypoints: ['shop/a', 'shop/b'], reports: [rep('shop/a'), rep('shop/b')] });
  t.deepEqual(c, { type: 'Active', status: 'True', reason: 'Loaded', message: 'waypoint shop/a, shop/b: @acme/add-header@1.2.0 active', observedGeneration: 2 });
  // Two pods of one waypoint saying the same thing name it once.
  const pods = waypointPluginActive({ plugin: plugin(), waypoints: ['shop/a'], reports: [rep('shop/a', {}, 'pod-1'), rep('shop/a', {}, 'pod-2')] });
  t.is(pods!.message, 'waypoint shop/a: @acme/add-header@1.2.0 active');
});

test('one waypoint loaded it, another has not reported: True, saying who is missing', (t) => {
  const c = waypointPluginActive({ plugin: plugin(), waypoints: ['shop/a', 'shop/b'], reports: [rep('shop/a')] });
  t.like(c, { status: 'True', reason: 'Loaded', message: 'waypoint shop/a: @acme/add-header@1.2.0 active; not yet reported by waypoint shop/b' });
});

test('any waypoint failing makes it False with that waypoint named, even if others loaded it', (t) => {
  const c = waypointPluginActive({
    plugin: plugin(),
    waypoints: ['shop/a', 'shop/b', 'shop/c'],
    reports: [
      rep('shop/a'),
      rep('shop/b', { status: 'False', reason: 'IntegrityMismatch', message: 'integrity mismatch for @acme/add-header@1.2.0' }),
      rep('shop/c', { status: 'False', reason: 'FetchFailed', message: 'cannot fetch @acme/add-header@1.2.0: HTTP 404' }),
    ],
  });
  t.deepEqual(c, {
    type: 'Active',
    status: 'False',
    reason: 'IntegrityMismatch',
    message: 'waypoint shop/b: integrity mismatch for @acme/add-header@1.2.0; waypoint shop/c: cannot fetch @acme/add-header@1.2.0: HTTP 404',
    observedGeneration: 2,
  });
});

test('hooks failing on a waypoint (failStrategy applied): True/Degraded with the error', (t) => {
  const c = waypointPluginActive({
    plugin: plugin(),
    waypoints: ['shop/a', 'shop/b'],
    reports: [rep('shop/a'), rep('shop/b', { reason: 'Degraded', message: 'onRequest failed: boom (3 failures)' })],
  });
  t.like(c, { status: 'True', reason: 'Degraded', message: 'waypoint shop/b: onRequest failed: boom (3 failures)' });
});

test('observedGeneration is the oldest generation reported; many distinct messages are capped', (t) => {
  const c = waypointPluginActive({ plugin: plugin({}, 3), waypoints: ['shop/a', 'shop/b'], reports: [rep('shop/a', { observedGeneration: 3 }), rep('shop/b', { observedGeneration: 2 })] });
  t.is(c!.observedGeneration, 2);
  const many = Array.from({ length: 8 }, (_, i) => rep(`shop/w${i}`, { status: 'False', reason: 'FetchFailed', message: `error ${i}` }));
  const capped = waypointPluginActive({ plugin: plugin(), waypoints: many.map((r) => r.waypoint), reports: many });
  t.true(capped!.message.endsWith('; waypoint shop/w4: error 4; and 3 more'), capped!.message);
});

test('the model tells which waypoints hold a plugin; reports regroup by plugin', (t) => {
  const wire = (kind: string, ns: string, name: string) => ({ apiVersion: 'x/v1', kind, metadata: { namespace: ns, name } });
  const cfg = (resources: ReturnType<typeof wire>[]) => ({ resources }) as unknown as WaypointConfig;
  const model = {
    waypoints: new Map([
      ['shop/b', cfg([wire('WaypointPlugin', 'shop', 'add-header'), wire('HTTPRoute', 'shop', 'add-header')])],
      ['shop/a', cfg([wire('WaypointPlugin', 'shop', 'add-header'), wire('WaypointPlugin', 'istio-system', 'global')])],
    ]),
  };
  t.deepEqual(Object.fromEntries(pluginWaypoints(model)), { 'shop/add-header': ['shop/a', 'shop/b'], 'istio-system/global': ['shop/a'] });
  const by = reportsByPlugin([
    { waypoint: 'shop/b', client: 'waypoint/shop/b', conditions: [cond()] },
    { waypoint: 'shop/a', client: 'waypoint/shop/a', conditions: [cond(), cond({ name: 'other' })] },
  ]);
  t.deepEqual(by.get('shop/add-header')!.map((r) => r.waypoint), ['shop/a', 'shop/b']);
  t.is(by.get('shop/other')!.length, 1);
});
