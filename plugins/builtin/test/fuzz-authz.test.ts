// Property-based fuzzing of the waypoint's AuthorizationPolicy compiler (issue 12): arbitrary specs compile, or a
// rule is refused with one clear Error (never a TypeError) and fails closed; compiled matchers never throw on
// arbitrary requests. Bounded: fixed seed and run counts; fast-check prints the seed and the shrunk counterexample.
import test from 'ava';
import fc from 'fast-check';
import type { K8sObject } from '@ambit/plugin-sdk';
import { createTestEnv, fakeContext, type FakeRequest } from '@ambit/plugin-sdk/testing';
import { compilePolicies } from '../src/authz/authz.js';
import { compileRule, REQUEST_CLAIMS, REQUEST_PRINCIPAL, type AuthorizationPolicySpec } from '../src/authz/policy.js';

const SEED = 0x5eed12;
const opts = (numRuns: number) => ({ seed: SEED, numRuns });

const loose = <T>(a: fc.Arbitrary<T>, weight = 6) => fc.oneof({ weight, arbitrary: a }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
const str = fc.oneof(fc.constantFrom('*', 'a*', '*a', '', 'default', 'ns/sa', 'sleep', 'spiffe://cluster.local/ns/default/sa/sleep', 'cluster.local/*', '10.0.0.0/8', '10.0.0.0/', '::/0', 'GET', '/x*', '9080', 'x'), fc.string({ maxLength: 8 }));
const strs = loose(fc.array(loose(str), { maxLength: 3 }));
const source = fc.record(
  { principals: strs, notPrincipals: strs, requestPrincipals: strs, namespaces: strs, notNamespaces: strs, serviceAccounts: strs, ipBlocks: strs, notIpBlocks: strs, remoteIpBlocks: strs },
  { requiredKeys: [] },
);
const operation = fc.record({ hosts: strs, notHosts: strs, ports: loose(fc.array(fc.oneof(str, fc.integer({ min: 0, max: 70000 })), { maxLength: 2 })), methods: strs, paths: strs, notPaths: strs }, { requiredKeys: [] });
const whenKey = fc.constantFrom('source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'source.serviceAccount', 'destination.ip', 'destination.port', 'connection.sni', 'request.auth.principal', 'request.auth.audiences', 'request.headers[x-a]', 'request.auth.claims[groups]', 'request.auth.claims[a][b]', 'request.headers[]', 'nope');
const condition = fc.record({ key: loose(whenKey), values: strs, notValues: strs }, { requiredKeys: [] });
const rule = fc.record(
  {
    from: loose(fc.array(loose(fc.record({ source: loose(source) }, { requiredKeys: [] })), { maxLength: 2 })),
    to: loose(fc.array(loose(fc.record({ operation: loose(operation) }, { requiredKeys: [] })), { maxLength: 2 })),
    when: loose(fc.array(loose(condition), { maxLength: 2 })),
  },
  { requiredKeys: [] },
);
const gwRef = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' };
const spec = fc.record(
  {
    action: loose(fc.constantFrom('ALLOW', 'DENY', 'AUDIT', 'CUSTOM')),
    rules: loose(fc.array(loose(rule), { maxLength: 3 })),
    targetRefs: loose(fc.array(loose(fc.constantFrom(gwRef, { kind: 'Service', group: '', name: 'productpage' })), { maxLength: 2 })),
    targetRef: loose(fc.constant(gwRef), 1),
  },
  { requiredKeys: [] },
);
const object = (s: unknown, name = 'p'): K8sObject<AuthorizationPolicySpec> => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'default' }, spec: s as AuthorizationPolicySpec });

const services = [{ name: 'productpage', namespace: 'default', hostname: 'productpage.default.svc.cluster.local', vips: ['/10.96.0.30'], ports: { 9080: 9080 } }];
const env = createTestEnv({ services, waypoint: { name: 'waypoint', namespace: 'default' } });
const header = fc.dictionary(fc.constantFrom('x-a', 'host', 'x-forwarded-for', 'authorization'), fc.oneof(fc.string({ maxLength: 12 }), fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 })), { maxKeys: 3 });
/** Node's HTTP parser keeps one Host header (the authority is a string); other headers may repeat. */
const oneHost = <R extends { headers?: Record<string, string | string[]> }>(r: R): R =>
  Array.isArray(r.headers?.host) ? { ...r, headers: { ...r.headers, host: r.headers.host.join(',') } } : r;
const request = fc.record(
  {
    method: fc.constantFrom('GET', 'POST', 'get', ''),
    path: fc.oneof(fc.constantFrom('/', '/x', '/x?a=1&a=2', '?'), fc.string({ maxLength: 12 })),
    headers: header,
    authority: fc.oneof(fc.constantFrom('productpage:9080', '[::1]:80', ':', ''), fc.string({ maxLength: 10 })),
    principal: fc.oneof(fc.constantFrom('spiffe://cluster.local/ns/default/sa/sleep', 'spiffe://', 'x'), fc.string({ maxLength: 10 })),
    sourceAddress: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('', 'nope')),
    numTrustedProxies: fc.nat(3),
    destination: fc.constantFrom('10.96.0.30:9080', '10.96.0.1:80', 'productpage:9080', '[::1]:80'),
  },
  { requiredKeys: [] },
).map(oneHost);
const claims = fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined });
const context = (req: FakeRequest, c: unknown, principal: unknown) => {
  const ctx = fakeContext(req, env);
  if (c !== undefined) ctx.state.set(REQUEST_CLAIMS, c);
  if (principal !== undefined) ctx.state.set(REQUEST_PRINCIPAL, principal);
  return ctx;
};

test('compileRule on arbitrary shapes: a predicate, or one clear Error naming the field, never a TypeError', (t) => {
  let compiled = 0;
  fc.assert(
    fc.property(loose(rule), (r) => {
      try {
        compileRule(r as never, 'default');
        compiled++;
      } catch (err) {
        if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) throw err;
        t.regex(err.message, /^(a rule must be an object|(from|to|when)\b.*: expected|invalid IP block|unknown attribute|when ".*" has no values)/);
      }
    }),
    opts(600),
  );
  t.true(compiled > 0);
});

test('compilePolicies never throws; compiled policies never throw on arbitrary requests', (t) => {
  fc.assert(
    fc.property(fc.array(spec, { maxLength: 3 }), fc.array(fc.tuple(request, claims, fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined })), { minLength: 1, maxLength: 4 }), (specs, reqs) => {
      const policies = compilePolicies(specs.map((s, i) => object(s, `p${i}`)), env.waypoint);
      for (const p of policies) {
        for (const m of p.problems) t.notRegex(m, /is not (a function|iterable)|Cannot read prop|undefined|null/);
        for (const [req, c, principal] of reqs) {
          const ctx = context(req, c, principal);
          t.is(typeof p.appliesTo(ctx), 'boolean');
          t.is(typeof p.matches(ctx), 'boolean');
        }
      }
    }),
    opts(300),
  );
});

/** A rule with one field that is not of its declared type. */
const brokenRule = fc
  .tuple(
    rule,
    fc.constantFrom<Record<string, unknown>>(
      { from: [{ source: { principals: [5] } }] },
      { from: [{ source: { ipBlocks: ['10.0.0.0/'] } }] },
      { from: { source: {} } },
      { from: [{ source: 'x' }] },
      { to: [{ operation: { hosts: 'productpage' } }] },
      { to: [5] },
      { when: [{ key: 'nope', values: ['x'] }] },
      { when: [{ values: ['x'] }] },
      { when: 'x' },
    ),
  )
  .map(([r, bad]) => ({ ...r, ...bad }));

test('a policy whose every rule is broken fails closed: ALLOW matches no request, DENY matches every request', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.array(fc.oneof(brokenRule, fc.constantFrom(5, 'x', [])), { minLength: 1, maxLength: 3 }), fc.constantFrom({}, 'x', 5)), fc.array(request, { minLength: 1, maxLength: 3 }), (rules, reqs) => {
      const [allow, deny] = compilePolicies([object({ targetRef: gwRef, action: 'ALLOW', rules }, 'allow'), object({ targetRef: gwRef, action: 'DENY', rules }, 'deny')], env.waypoint);
      t.true(allow!.problems.length > 0 && deny!.problems.length > 0);
      for (const req of reqs) {
        const ctx = context(req, undefined, undefined);
        t.false(allow!.matches(ctx));
        t.true(deny!.matches(ctx));
      }
    }),
    opts(300),
  );
});
