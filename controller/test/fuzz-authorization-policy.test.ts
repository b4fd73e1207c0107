// Property-based fuzzing of the AuthorizationPolicy conversion for ztunnel (issue 12): arbitrary JSON shapes where
// strings, arrays and objects are expected never make it throw, and an ALLOW policy never comes out wider than
// asked. Bounded: fixed seed and run counts; fast-check prints the seed and the shrunk counterexample.
import test from 'ava';
import fc from 'fast-check';
import { convertAuthorizationPolicy, type AuthorizationPolicySpec } from '../src/mesh/authorization.js';

const SEED = 0x5eed12;
const opts = (numRuns: number) => ({ seed: SEED, numRuns });

/** A value of about the right shape, or anything JSON, or absent. */
const loose = <T>(a: fc.Arbitrary<T>, weight = 6) => fc.oneof({ weight, arbitrary: a }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
const str = fc.constantFrom('*', 'a', 'a*', '*a', '', 'ns/sa', 'spiffe://cluster.local/ns/a/sa/b', '10.0.0.0/8', '10.0.0.0/', '::1', '80', '99999', 'x');
const strs = loose(fc.array(loose(str), { maxLength: 3 }));
const source = fc.record(
  { principals: strs, notPrincipals: strs, namespaces: strs, notNamespaces: strs, serviceAccounts: strs, notServiceAccounts: strs, ipBlocks: strs, notIpBlocks: strs, remoteIpBlocks: strs, requestPrincipals: strs },
  { requiredKeys: [] },
);
const operation = fc.record({ ports: strs, notPorts: strs, hosts: strs, methods: strs, paths: strs }, { requiredKeys: [] });
const condition = fc.record({ key: loose(fc.constantFrom('source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port', 'request.headers[x]', 'nope')), values: strs, notValues: strs }, { requiredKeys: [] });
const rule = fc.record(
  {
    from: loose(fc.array(loose(fc.record({ source: loose(source) }, { requiredKeys: [] })), { maxLength: 2 })),
    to: loose(fc.array(loose(fc.record({ operation: loose(operation) }, { requiredKeys: [] })), { maxLength: 2 })),
    when: loose(fc.array(loose(condition), { maxLength: 2 })),
  },
  { requiredKeys: [] },
);
const spec = fc.record(
  {
    action: loose(fc.constantFrom('ALLOW', 'DENY', 'AUDIT', 'CUSTOM')),
    rules: loose(fc.array(loose(rule), { maxLength: 3 })),
    selector: loose(fc.constant({ matchLabels: { app: 'a' } }), 1),
    targetRefs: loose(fc.constant([]), 1),
  },
  { requiredKeys: [] },
);
const policy = (s: unknown, namespace = 'default') => ({ metadata: { name: 'p', namespace }, spec: s as AuthorizationPolicySpec });

const absent = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
/** An input rule that asks for every connection: an object with no from, to or when (null reads as one, {}). */
const asksForAll = (r: unknown) => r === null || r === undefined || (typeof r === 'object' && r !== null && !Array.isArray(r) && ['from', 'to', 'when'].every((k) => absent((r as Record<string, unknown>)[k])));
/** A converted rule ztunnel matches against every connection: all its clauses empty (see rbac/evaluate.ts). */
const matchesAll = (rule: unknown[][]) => rule.every((clause) => clause.length === 0);

test('arbitrary specs never throw; the output has the shape ztunnel reads', (t) => {
  fc.assert(
    fc.property(spec, fc.constantFrom('default', 'istio-system'), (s, ns) => {
      const r = convertAuthorizationPolicy(policy(s, ns));
      t.true(Array.isArray(r.warnings));
      for (const w of r.warnings) t.true(typeof w.reason === 'string' && typeof w.message === 'string');
      if (r.authorization) {
        t.true(['Allow', 'Deny'].includes(r.authorization.action));
        for (const rl of r.authorization.rules) for (const clause of rl) for (const m of clause) for (const v of Object.values(m)) t.true(Array.isArray(v));
      }
    }),
    opts(500),
  );
});

test('ALLOW: never more rules than asked, and a rule matching every connection only where one was asked for', (t) => {
  fc.assert(
    fc.property(loose(fc.array(loose(rule), { maxLength: 3 })), (rules) => {
      const r = convertAuthorizationPolicy(policy({ action: 'ALLOW', rules }));
      const out = r.authorization?.rules ?? [];
      const asked = Array.isArray(rules) ? rules : [];
      t.true(out.length <= asked.length);
      t.true(out.filter(matchesAll).length <= asked.filter(asksForAll).length, JSON.stringify(out));
    }),
    opts(500),
  );
});

/** A rule with one field that cannot be read as written: a bad IP block, a non-string value, a non-list. */
const brokenRule = fc
  .tuple(
    rule,
    fc.constantFrom<Record<string, unknown>>(
      { from: [{ source: { ipBlocks: ['10.0.0.0/'] } }] },
      { from: [{ source: { principals: [5] } }] },
      { from: [{ source: { namespaces: 'default' } }] },
      { from: { source: {} } },
      { to: [{ operation: { ports: 80 } }] },
      { to: 'x' },
      { when: [{ key: 'source.ip', values: [{}] }] },
      { when: [null] },
      { when: 5 },
    ),
  )
  .map(([r, bad]) => ({ ...r, ...bad }));

test('ALLOW: a policy whose every rule has an unreadable field converts to no rule (allow nothing), with a warning', (t) => {
  fc.assert(
    fc.property(fc.array(brokenRule, { minLength: 1, maxLength: 3 }), (rules) => {
      const r = convertAuthorizationPolicy(policy({ action: 'ALLOW', rules }));
      t.deepEqual(r.authorization?.rules, []);
      t.true(r.warnings.length > 0);
    }),
    opts(300),
  );
});

test('DENY: a rule with an unreadable field is kept, enforced without that field, with a warning', (t) => {
  // The fail-closed direction for DENY: what cannot be read is left out, so the rule denies more, never less.
  fc.assert(
    fc.property(brokenRule, (r) => {
      const out = convertAuthorizationPolicy(policy({ action: 'DENY', rules: [r] }));
      t.is(out.authorization?.rules.length, 1);
      t.true(out.warnings.length > 0);
    }),
    opts(200),
  );
});
