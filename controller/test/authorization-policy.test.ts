// The AuthorizationPolicy conversion (src/mesh/authorization.ts); what ztunnel does with its output is
// ztunnel-runtime/test/rbac.test.ts.
import test from 'ava';
import { convertAuthorizationPolicy, type AuthorizationPolicySpec } from '../src/mesh/authorization.js';

const ap = (spec: AuthorizationPolicySpec, namespace = 'default', annotations?: Record<string, string>) => ({
  metadata: { name: 'p', namespace, annotations },
  spec,
});

test('scope: selector → WorkloadSelector, none → Namespace, root namespace → Global', (t) => {
  t.is(convertAuthorizationPolicy(ap({ selector: { matchLabels: { app: 'x' } } })).authorization?.scope, 'WorkloadSelector');
  t.is(convertAuthorizationPolicy(ap({})).authorization?.scope, 'Namespace');
  t.is(convertAuthorizationPolicy(ap({}, 'istio-system'), { rootNamespace: 'istio-system' }).authorization?.scope, 'Global');
});

test('targetRefs policies are not for ztunnel', (t) => {
  t.deepEqual(convertAuthorizationPolicy(ap({ targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }] })), { warnings: [] });
});

test('AUDIT and CUSTOM are not converted', (t) => {
  const r = convertAuthorizationPolicy(ap({ action: 'AUDIT' }));
  t.is(r.authorization, undefined);
  t.deepEqual(r.warnings, [{ reason: 'UnsupportedValue', message: 'ztunnel does not support the AUDIT action' }]);
  t.is(convertAuthorizationPolicy(ap({ action: 'CUSTOM', provider: { name: 'x' } })).warnings[0]?.message, 'ztunnel does not support the CUSTOM action');
});

test('allow-nothing and allow-all', (t) => {
  t.deepEqual(convertAuthorizationPolicy(ap({})).authorization?.rules, []);
  t.deepEqual(convertAuthorizationPolicy(ap({ rules: [{}] })).authorization?.rules, [[]]);
});

test('from/to/when mapping, strings, principals, service accounts', (t) => {
  const r = convertAuthorizationPolicy(
    ap({
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/curl', '*/sa/admin'], namespaces: ['prod-*'], serviceAccounts: ['curl', 'other/sa1'], ipBlocks: ['10.0.0.0/8', '1.2.3.4'] } }],
          to: [{ operation: { ports: ['9080', 'x'] } }, { operation: { notPorts: ['9999'] } }],
          when: [{ key: 'source.namespace', values: ['*'], notValues: ['kube-system'] }],
        },
      ],
    }),
  );
  t.deepEqual(r.warnings, []);
  t.deepEqual(r.authorization?.rules, [
    [
      [{ destinationPorts: [9080] }, { notDestinationPorts: [9999] }],
      [
        {
          sourceIps: ['10.0.0.0/8', '1.2.3.4/32'],
          namespaces: [{ Prefix: 'prod-' }],
          serviceAccounts: [
            { namespace: 'default', serviceAccount: 'curl' },
            { namespace: 'other', serviceAccount: 'sa1' },
          ],
          principals: [{ Exact: 'cluster.local/ns/default/sa/curl' }, { Suffix: '/sa/admin' }],
        },
      ],
      [{ namespaces: [{ Presence: [] }], notNamespaces: [{ Exact: 'kube-system' }] }],
    ],
  ]);
});

test('HTTP attributes in ALLOW: the rule is dropped (fail closed) with a warning', (t) => {
  const r = convertAuthorizationPolicy(ap({ action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'], ports: ['9080'] } }] }] }));
  t.deepEqual(r.authorization?.rules, []);
  t.deepEqual(r.warnings, [
    {
      reason: 'UnsupportedValue',
      message:
        'ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.',
    },
  ]);
});

test('HTTP attributes in DENY with nothing L4 left: no effect', (t) => {
  const r = convertAuthorizationPolicy(ap({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'], paths: ['/admin'] } }] }] }));
  t.deepEqual(r.authorization?.rules, [[[{}]]]);
  t.regex(r.warnings[0]!.message, /^ztunnel does not support HTTP attributes \(found: methods, paths\)\. .*this DENY policy has no enforceable rules at ztunnel and will have no effect/);
});

test('HTTP attributes in DENY with L4 parts: enforced without the HTTP rules (broader deny)', (t) => {
  const r = convertAuthorizationPolicy(ap({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'], ports: ['9080'] } }] }] }));
  t.deepEqual(r.authorization?.rules, [[[{ destinationPorts: [9080] }]]]);
  t.regex(r.warnings[0]!.message, /DENY policy with HTTP attributes is enforced without the HTTP rules\. This will be more restrictive than requested\.$/);
});

test('non-L4 when keys count as HTTP attributes', (t) => {
  const r = convertAuthorizationPolicy(ap({ rules: [{ when: [{ key: 'request.headers[x-token]', values: ['a'] }] }] }));
  t.deepEqual(r.authorization?.rules, []);
  t.regex(r.warnings[0]!.message, /found: request\.headers\[x-token\]/);
});

test('dry-run annotation needs the feature flag', (t) => {
  const r = convertAuthorizationPolicy(ap({}, 'default', { 'istio.io/dry-run': 'true' }));
  t.is(r.authorization, undefined);
  t.is(r.warnings[0]?.message, `found policy "default/p" using dry-run annotation, but support for ambient dry-run authorizationPolicies isn't enabled`);
  t.true(convertAuthorizationPolicy(ap({}, 'default', { 'istio.io/dry-run': 'true' }), { enableDryRun: true }).authorization?.dryRun);
});

test('a malformed ipBlock never widens a rule: ALLOW drops the rule (fail closed) and says so; DENY drops the IP condition, denying more, never less', (t) => {
  // Before: `10.0.0.0/` was skipped, leaving `from: [{ source: {} }]`, which matches every client.
  const allow = convertAuthorizationPolicy(ap({ rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/'] } }] }, { from: [{ source: { namespaces: ['ok'] } }] }] }));
  t.deepEqual(allow.authorization?.rules, [[[{ namespaces: [{ Exact: 'ok' }] }]]]);
  t.deepEqual(allow.warnings, [
    {
      reason: 'UnsupportedValue',
      message: 'invalid IP block "10.0.0.0/" (write a.b.c.d/n or an address): the ALLOW rules that use it are omitted. This will be more restrictive than requested.',
    },
  ]);
  const deny = convertAuthorizationPolicy(ap({ action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/ 8', '192.0.2.0/24'] } }], to: [{ operation: { ports: ['80'] } }] }] }));
  // Denying only 192.0.2.0/24 would deny less than asked; without the IP condition the rule denies every source on 80.
  t.deepEqual(deny.authorization?.rules, [[[{ destinationPorts: [80] }]]]);
  const denyWhen = convertAuthorizationPolicy(ap({ action: 'DENY', rules: [{ to: [{ operation: { ports: ['80'] } }], when: [{ key: 'source.ip', values: ['300.1.1.1'] }] }] }));
  t.deepEqual(denyWhen.authorization?.rules, [[[{ destinationPorts: [80] }]]]);
  t.regex(deny.warnings[0]!.message, /^invalid IP block "10\.0\.0\.0\/ 8" .*DENY rules that use it are enforced without that IP condition/);
});

// Found by fuzz-authorization-policy.test.ts: values of the wrong JSON type threw a TypeError out of the conversion
// (the policy was then never converted), and a rule that is not an object became an allow-all rule.
test('a field of the wrong type never throws: ALLOW drops the rule, DENY enforces the rule without it, both with a warning', (t) => {
  const allow = convertAuthorizationPolicy(ap({ rules: [{ from: [{ source: { principals: [5] } }] }] } as unknown as AuthorizationPolicySpec));
  t.deepEqual(allow.authorization?.rules, []);
  t.regex(allow.warnings[0]!.message, /unreadable rules\[0\]\.from\[0\]\.source\.principals .*ALLOW rules that use them are omitted/);
  const when = convertAuthorizationPolicy(ap({ rules: [{ when: [{ key: 'source.ip', values: [-5e-324] }] }] } as unknown as AuthorizationPolicySpec));
  t.deepEqual(when.authorization?.rules, []);
  const deny = convertAuthorizationPolicy(
    ap({ action: 'DENY', rules: [{ from: { source: {} }, to: [{ operation: { ports: ['80'] } }], when: [null] }] } as unknown as AuthorizationPolicySpec),
  );
  t.deepEqual(deny.authorization?.rules, [[[{ destinationPorts: [80] }]]], 'the unreadable from and when are left out: it denies more');
  t.regex(deny.warnings[0]!.message, /unreadable rules\[0\]\.from, rules\[0\]\.when .*DENY rules that use them are enforced without them/);
  // A source or an operation with only unreadable fields would match nothing: the whole clause is left out.
  const empty = convertAuthorizationPolicy(ap({ action: 'DENY', rules: [{ from: [{ source: { namespaces: 'a' } }], to: [{ operation: { ports: 80 } }] }] } as unknown as AuthorizationPolicySpec));
  t.deepEqual(empty.authorization?.rules, [[]]);
  // Numbers stay accepted as ports, as before (and as the waypoint accepts them).
  t.deepEqual(convertAuthorizationPolicy(ap({ rules: [{ to: [{ operation: { ports: [80] } }] }] } as unknown as AuthorizationPolicySpec)).authorization?.rules, [[[{ destinationPorts: [80] }]]]);
});

test('a rule that is not an object: ALLOW drops it (it used to allow everything), DENY denies everything; rules not a list likewise', (t) => {
  t.deepEqual(convertAuthorizationPolicy(ap({ rules: [5, 'x'] } as unknown as AuthorizationPolicySpec)).authorization?.rules, []);
  t.deepEqual(convertAuthorizationPolicy(ap({ action: 'DENY', rules: [5] } as unknown as AuthorizationPolicySpec)).authorization?.rules, [[]]);
  const notList = convertAuthorizationPolicy(ap({ rules: { from: [] } } as unknown as AuthorizationPolicySpec));
  t.deepEqual(notList.authorization?.rules, []);
  t.true(notList.warnings.length > 0);
  t.deepEqual(convertAuthorizationPolicy(ap({ action: 'DENY', rules: {} } as unknown as AuthorizationPolicySpec)).authorization?.rules, [[]]);
  // null still reads as an empty rule, as before.
  t.deepEqual(convertAuthorizationPolicy(ap({ rules: [null] } as unknown as AuthorizationPolicySpec)).authorization?.rules, [[]]);
});
