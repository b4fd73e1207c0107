import test from 'ava';
import fc from 'fast-check';
import { resourceKey } from '@ambit/mesh-api/model';
import { InMemoryResources, type K8sObject } from '../src/index.js';

// Kinds of several groups, Gateway in two (same kind, same name: only the group tells them apart), and few names
// and creation times, so equal sort keys are common.
const KINDS = [
  ['HTTPRoute', 'gateway.networking.k8s.io/v1'],
  ['Gateway', 'gateway.networking.k8s.io/v1'],
  ['Gateway', 'networking.istio.io/v1'],
  ['VirtualService', 'networking.istio.io/v1'],
  ['AuthorizationPolicy', 'security.istio.io/v1'],
] as const;

const object = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    namespace: fc.constantFrom('a', 'b', undefined),
    name: fc.constantFrom('x', 'y', 'z'),
    created: fc.constantFrom('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', undefined),
    gen: fc.nat(3),
  })
  .map(({ kind: [kind, apiVersion], namespace, name, created, gen }): K8sObject => ({
    apiVersion,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}), ...(created ? { creationTimestamp: created } : {}), generation: gen },
  }));

const delta = fc.record({
  upserts: fc.uniqueArray(object, { selector: resourceKey, maxLength: 6 }),
  removals: fc.array(object.map(resourceKey), { maxLength: 4 }),
});

const kindsOf = (...rs: InMemoryResources[]) => [...new Set(rs.flatMap((r) => r.all().map((o) => o.kind)))];

test('after any sequence of deltas, each kind lists what a whole replacement with the same objects lists, in the same order', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(object, { selector: resourceKey, maxLength: 20 }), fc.array(delta, { maxLength: 8 }), (initial, deltas) => {
      const r = new InMemoryResources(initial);
      const state = new Map(initial.map((o) => [resourceKey(o), o]));
      for (const d of deltas) {
        r.apply(d.upserts, d.removals);
        for (const k of d.removals) state.delete(k);
        for (const o of d.upserts) state.set(resourceKey(o), o);
        // Given in the opposite order: the order must come from the objects alone.
        const whole = new InMemoryResources([...state.values()].reverse());
        for (const kind of kindsOf(r, whole)) {
          t.deepEqual(r.list(kind), whole.list(kind), kind);
          t.deepEqual(r.list(kind, 'networking.istio.io'), whole.list(kind, 'networking.istio.io'), kind);
        }
        t.is(r.all().length, state.size);
      }
    }),
    { seed: 0x13de17a, numRuns: 300 },
  );
});

test('apply: listeners run once and the version moves once per change; a delta that changes nothing does neither', (t) => {
  const route = (name: string, created?: string): K8sObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'default', ...(created ? { creationTimestamp: created } : {}) } });
  const dr: K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'd', namespace: 'default' } };
  const r = new InMemoryResources([route('b', '2024-01-02T00:00:00Z'), dr]);
  let calls = 0;
  r.onChange(() => calls++);
  const v = r.version;
  const routes = r.list('HTTPRoute');
  const drs = r.list('DestinationRule');

  r.apply([route('a', '2024-01-03T00:00:00Z'), route('c', '2024-01-01T00:00:00Z')], ['HTTPRoute.gateway.networking.k8s.io/default/b']);
  t.deepEqual(r.list('HTTPRoute').map((o) => o.metadata.name), ['c', 'a'], 'creation time first');
  t.is(r.version, v + 1);
  t.is(calls, 1);
  t.deepEqual(routes.map((o) => o.metadata.name), ['b'], 'a list handed out before is left as it was');
  t.is(r.list('DestinationRule'), drs, 'a kind the delta did not touch keeps its list');

  r.apply([], ['HTTPRoute.gateway.networking.k8s.io/default/none']);
  r.apply([]);
  t.is(r.version, v + 1);
  t.is(calls, 1);

  r.apply([], [resourceKey(dr)]);
  t.deepEqual(r.list('DestinationRule'), []);
  t.deepEqual(r.all().map((o) => o.metadata.name), ['c', 'a']);
});

test('versionOf moves only for the kinds a change touched, also when their last object goes and on replace', (t) => {
  const route: K8sObject = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'default' } };
  const ap: K8sObject = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'default' } };
  const r = new InMemoryResources([route]);
  const routes = r.versionOf(['HTTPRoute']);
  t.is(routes, r.version);
  t.is(r.versionOf(['AuthorizationPolicy']), 0, 'a kind never seen');

  r.apply([ap]);
  t.is(r.versionOf(['HTTPRoute']), routes, 'a policy-only change keeps the routes version');
  t.is(r.versionOf(['AuthorizationPolicy']), r.version);
  t.is(r.versionOf(['HTTPRoute', 'AuthorizationPolicy']), r.version, 'the latest of several kinds');

  r.apply([], [resourceKey(route)]);
  t.is(r.versionOf(['HTTPRoute']), r.version, 'the last route removed is a change of routes');
  const policies = r.versionOf(['AuthorizationPolicy']);

  r.replace([ap]);
  t.is(r.versionOf(['AuthorizationPolicy']), r.version, 'replace touches every kind it holds');
  t.true(r.versionOf(['AuthorizationPolicy']) > policies);
  r.replace([]);
  t.is(r.versionOf(['AuthorizationPolicy']), r.version, 'and every kind it held');
});
