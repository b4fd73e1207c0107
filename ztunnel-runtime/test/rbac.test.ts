import test from 'ava';
import type { Authorization, Match } from '@ambit/mesh-api';
import { evaluateRbac, type RbacConnection } from '../src/index.js';

const pol = (name: string, action: 'Allow' | 'Deny', rules: Match[][][], extra: Partial<Authorization> = {}): Authorization => ({
  name,
  namespace: 'default',
  scope: 'Namespace',
  action,
  dryRun: false,
  rules,
  ...extra,
});

const conn = (over: Partial<RbacConnection> = {}): RbacConnection => ({
  srcIp: '10.244.1.5',
  srcIdentity: 'spiffe://cluster.local/ns/default/sa/curl',
  dstIp: '10.244.1.9',
  dstPort: 8080,
  ...over,
});

test('no policies: allow', (t) => {
  t.deepEqual(evaluateRbac([], conn()), { allowed: true });
});

test('allow-nothing (ALLOW with no rules) denies everything', (t) => {
  t.deepEqual(evaluateRbac([pol('allow-nothing', 'Allow', [])], conn()), { allowed: false, reason: 'allow policies exist, but none allowed' });
});

test('allow-all (one rule with zero clauses) allows', (t) => {
  t.deepEqual(evaluateRbac([pol('allow-all', 'Allow', [[]])], conn()), { allowed: true });
});

test('deny wins over allow', (t) => {
  const r = evaluateRbac([pol('allow-all', 'Allow', [[]]), pol('deny-all', 'Deny', [[]])], conn());
  t.deepEqual(r, { allowed: false, reason: 'explicitly denied by: default/deny-all' });
});

test('zero-rule DENY never matches', (t) => {
  t.deepEqual(evaluateRbac([pol('deny-nothing', 'Deny', [])], conn()), { allowed: true });
});

test('empty Match is skipped: a clause of only empty matches never matches', (t) => {
  t.deepEqual(evaluateRbac([pol('deny-empty', 'Deny', [[[{}]]])], conn()), { allowed: true });
  t.false(evaluateRbac([pol('allow-empty', 'Allow', [[[{}]]])], conn()).allowed);
});

test('principals compare without spiffe:// and support prefix/suffix/presence', (t) => {
  const allow = (m: Match) => [pol('a', 'Allow', [[[m]]])];
  t.true(evaluateRbac(allow({ principals: [{ Exact: 'cluster.local/ns/default/sa/curl' }] }), conn()).allowed);
  t.false(evaluateRbac(allow({ principals: [{ Exact: 'spiffe://cluster.local/ns/default/sa/curl' }] }), conn()).allowed);
  t.true(evaluateRbac(allow({ principals: [{ Suffix: '/sa/curl' }] }), conn()).allowed);
  t.true(evaluateRbac(allow({ principals: [{ Prefix: 'cluster.local/ns/default/' }] }), conn()).allowed);
  t.true(evaluateRbac(allow({ principals: [{ Presence: [] }] }), conn()).allowed);
  t.false(evaluateRbac(allow({ principals: [{ Presence: [] }] }), conn({ srcIdentity: undefined })).allowed);
});

test('notPrincipals: presence denies plaintext (PeerAuthentication STRICT)', (t) => {
  const strict = pol('istio_converted_static_strict', 'Deny', [[[{ notPrincipals: [{ Presence: [] }] }]]], { namespace: 'istio-system', scope: 'WorkloadSelector' });
  t.deepEqual(evaluateRbac([strict], conn({ srcIdentity: undefined })), { allowed: false, reason: 'explicitly denied by: istio-system/istio_converted_static_strict' });
  t.true(evaluateRbac([strict], conn()).allowed);
});

test('notPrincipals in ALLOW excludes one caller', (t) => {
  const p = [pol('not-curl', 'Allow', [[[{ notPrincipals: [{ Exact: 'cluster.local/ns/default/sa/curl' }] }]]])];
  t.false(evaluateRbac(p, conn()).allowed);
  t.true(evaluateRbac(p, conn({ srcIdentity: 'spiffe://cluster.local/ns/default/sa/other' })).allowed);
});

test('namespaces and notNamespaces come from the identity', (t) => {
  const p = [pol('ns', 'Allow', [[[{ namespaces: [{ Exact: 'default' }] }]]])];
  t.true(evaluateRbac(p, conn()).allowed);
  t.false(evaluateRbac(p, conn({ srcIdentity: 'spiffe://cluster.local/ns/other/sa/curl' })).allowed);
  t.false(evaluateRbac(p, conn({ srcIdentity: undefined })).allowed);
  const notNs = [pol('not-ns', 'Deny', [[[{ notNamespaces: [{ Exact: 'default' }] }]]])];
  t.true(evaluateRbac(notNs, conn()).allowed);
  t.false(evaluateRbac(notNs, conn({ srcIdentity: 'spiffe://cluster.local/ns/other/sa/curl' })).allowed);
});

test('serviceAccounts match namespace and name exactly', (t) => {
  const p = [pol('sa', 'Allow', [[[{ serviceAccounts: [{ namespace: 'default', serviceAccount: 'curl' }] }]]])];
  t.true(evaluateRbac(p, conn()).allowed);
  t.false(evaluateRbac(p, conn({ srcIdentity: 'spiffe://cluster.local/ns/other/sa/curl' })).allowed);
  t.false(evaluateRbac(p, conn({ srcIdentity: undefined })).allowed);
});

test('ports and notPorts use the target port', (t) => {
  const deny9999 = [pol('deny-9999', 'Allow', [[[{ notDestinationPorts: [9999] }]]])];
  t.true(evaluateRbac(deny9999, conn()).allowed);
  t.false(evaluateRbac(deny9999, conn({ dstPort: 9999 })).allowed);
  const only80 = [pol('p', 'Allow', [[[{ destinationPorts: [80, 8080] }]]])];
  t.true(evaluateRbac(only80, conn()).allowed);
  t.false(evaluateRbac(only80, conn({ dstPort: 81 })).allowed);
});

test('ipBlocks: source and destination CIDRs, v4 and v6', (t) => {
  const p = [pol('ips', 'Allow', [[[{ sourceIps: ['10.244.1.0/24'], notSourceIps: ['10.244.1.66/32'] }]]])];
  t.true(evaluateRbac(p, conn()).allowed);
  t.false(evaluateRbac(p, conn({ srcIp: '10.244.2.5' })).allowed);
  t.false(evaluateRbac(p, conn({ srcIp: '10.244.1.66' })).allowed);
  const d = [pol('dst', 'Deny', [[[{ destinationIps: ['fd00::/8'] }]]])];
  t.false(evaluateRbac(d, conn({ dstIp: 'fd00::1' })).allowed);
  t.true(evaluateRbac(d, conn()).allowed);
});

test('a rule is the AND of its clauses; a clause the OR of its matches', (t) => {
  const p = [
    pol('and', 'Allow', [
      [
        [{ destinationPorts: [80] }, { destinationPorts: [8080] }],
        [{ namespaces: [{ Exact: 'default' }] }],
      ],
    ]),
  ];
  t.true(evaluateRbac(p, conn()).allowed);
  t.false(evaluateRbac(p, conn({ dstPort: 9090 })).allowed);
  t.false(evaluateRbac(p, conn({ srcIdentity: 'spiffe://cluster.local/ns/x/sa/y' })).allowed);
});

test('dry-run policies only log', (t) => {
  t.true(evaluateRbac([pol('dry-deny', 'Deny', [[]], { dryRun: true })], conn()).allowed);
  t.true(evaluateRbac([pol('dry-allow-nothing', 'Allow', [], { dryRun: true })], conn()).allowed);
});

// What the controller's conversion makes of policies with HTTP attributes (controller/test/authorization-policy.test.ts
// checks the rules; here, what ztunnel then does with them).
test('converted policies with HTTP attributes: ALLOW fails closed, DENY with nothing L4 left has no effect, DENY with L4 parts denies', (t) => {
  const curl = conn({ dstPort: 9080 });
  t.deepEqual(evaluateRbac([pol('p', 'Allow', [])], curl), { allowed: false, reason: 'allow policies exist, but none allowed' });
  t.true(evaluateRbac([pol('p', 'Deny', [[[{}]]])], curl).allowed);
  t.deepEqual(evaluateRbac([pol('p', 'Deny', [[[{ destinationPorts: [9080] }]]])], curl), { allowed: false, reason: 'explicitly denied by: default/p' });
});
