import test from 'ava';
import type { K8sObject } from '@ambit/plugin-sdk';
import { createTestEnv, runPlugin, type FakeRequest } from '@ambit/plugin-sdk/testing';
import { AuthzPlugin, RBAC_DENIED_BODY } from '../src/index.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const NOTSLEEP = 'spiffe://cluster.local/ns/default/sa/notsleep';
const services = [
  { name: 'productpage', namespace: 'default', hostname: 'productpage.default.svc.cluster.local', vips: ['/10.96.0.30'], ports: { 9080: 9080 } },
  { name: 'reviews', namespace: 'default', hostname: 'reviews.default.svc.cluster.local', vips: ['/10.96.0.31'], ports: { 9080: 9080 } },
];
const gwRef = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'bookinfo-productpage' };

function policy(name: string, spec: Record<string, unknown>, ns = 'default', annotations?: Record<string, string>): K8sObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns, annotations }, spec };
}

async function check(policies: K8sObject[], req: FakeRequest) {
  const env = createTestEnv({ services, resources: policies, waypoint: { name: 'bookinfo-productpage', namespace: 'default' } });
  return { r: await runPlugin(AuthzPlugin, { destination: '10.96.0.30:9080', principal: SLEEP, ...req }, { env }), env };
}

test('walkthrough step 6: GET from sleep allowed; DELETE and notsleep get 403 RBAC: access denied', async (t) => {
  const p = policy('productpage-viewer', {
    targetRef: gwRef,
    action: 'ALLOW',
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }], to: [{ operation: { methods: ['GET'] } }] }],
  });
  t.is((await check([p], { method: 'GET' })).r.status, 200);
  const del = (await check([p], { method: 'DELETE' })).r;
  t.is(del.status, 403);
  t.is(del.body, RBAC_DENIED_BODY);
  t.is((await check([p], { method: 'GET', principal: NOTSLEEP })).r.status, 403);
});

test('selector policies and unattached policies are ignored at the waypoint', async (t) => {
  const sel = policy('sel', { selector: { matchLabels: { app: 'productpage' } }, action: 'DENY', rules: [{}] });
  const other = policy('other', { targetRef: { ...gwRef, name: 'another-waypoint' }, action: 'DENY', rules: [{}] });
  const otherNs = policy('other-ns', { targetRef: gwRef, action: 'DENY', rules: [{}] }, 'foo');
  t.is((await check([sel, other, otherNs], {})).r.status, 200);
});

test('targetRefs kind Service applies only to that service; GatewayClass from the root namespace applies to all', async (t) => {
  const svc = policy('deny-reviews', { targetRefs: [{ kind: 'Service', group: '', name: 'reviews' }], action: 'DENY', rules: [{}] });
  t.is((await check([svc], { destination: '10.96.0.31:9080' })).r.status, 403);
  t.is((await check([svc], { destination: '10.96.0.30:9080' })).r.status, 200);
  const cls = policy('mesh-deny', { targetRef: { kind: 'GatewayClass', group: 'gateway.networking.k8s.io', name: 'istio-waypoint' }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }, 'istio-system');
  t.is((await check([cls], { path: '/admin/x' })).r.status, 403);
  t.is((await check([cls], { path: '/ok' })).r.status, 200);
  const wrongNs = policy('mesh-deny', { targetRef: { kind: 'GatewayClass', group: 'gateway.networking.k8s.io', name: 'istio-waypoint' }, action: 'DENY', rules: [{}] }, 'default');
  t.is((await check([wrongNs], {})).r.status, 200);
});

test('DENY is evaluated before ALLOW', async (t) => {
  const allow = policy('allow-all', { targetRef: gwRef, action: 'ALLOW', rules: [{}] });
  const deny = policy('deny-delete', { targetRef: gwRef, action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] });
  t.is((await check([allow, deny], { method: 'GET' })).r.status, 200);
  t.is((await check([allow, deny], { method: 'DELETE' })).r.status, 403);
});

test('ALLOW with no rules allows nothing; rules: [{}] allows everything; DENY with no rules denies nothing', async (t) => {
  t.is((await check([policy('a', { targetRef: gwRef })], {})).r.status, 403);
  t.is((await check([policy('a', { targetRef: gwRef, rules: [{}] })], {})).r.status, 200);
  t.is((await check([policy('d', { targetRef: gwRef, action: 'DENY' })], {})).r.status, 200);
});

test('paths: exact, prefix*, *suffix, * and notPaths', async (t) => {
  const p = (paths: string[], notPaths?: string[]) => [policy('a', { targetRef: gwRef, rules: [{ to: [{ operation: { paths, notPaths } }] }] })];
  t.is((await check(p(['/info']), { path: '/info?x=1' })).r.status, 200);
  t.is((await check(p(['/info']), { path: '/info/x' })).r.status, 403);
  t.is((await check(p(['/api/*']), { path: '/api/v1' })).r.status, 200);
  t.is((await check(p(['*.html']), { path: '/index.html' })).r.status, 200);
  t.is((await check(p(['*.html']), { path: '/index.json' })).r.status, 403);
  t.is((await check(p(['*']), { path: '/anything' })).r.status, 200);
  t.is((await check(p(['/api/*'], ['/api/admin']), { path: '/api/admin' })).r.status, 403);
});

test('hosts (case-insensitive, port-agnostic), ports and notMethods', async (t) => {
  const p = [policy('a', { targetRef: gwRef, rules: [{ to: [{ operation: { hosts: ['productpage*'], ports: ['9080'], notMethods: ['POST'] } }] }] })];
  t.is((await check(p, { authority: 'PRODUCTPAGE:9080' })).r.status, 200);
  t.is((await check(p, { authority: 'details:9080' })).r.status, 403);
  t.is((await check(p, { authority: 'productpage:9080', method: 'POST' })).r.status, 403);
});

test('from.source: namespaces, notNamespaces, notPrincipals, ipBlocks, remoteIpBlocks, serviceAccounts', async (t) => {
  const p = (source: Record<string, unknown>) => [policy('a', { targetRef: gwRef, rules: [{ from: [{ source }] }] })];
  t.is((await check(p({ namespaces: ['default'] }), {})).r.status, 200);
  t.is((await check(p({ namespaces: ['foo'] }), {})).r.status, 403);
  t.is((await check(p({ notNamespaces: ['default'] }), {})).r.status, 403);
  t.is((await check(p({ principals: ['*'], notPrincipals: ['*/sa/notsleep'] }), { principal: NOTSLEEP })).r.status, 403);
  t.is((await check(p({ principals: ['*'] }), { principal: undefined })).r.status, 403);
  t.is((await check(p({ ipBlocks: ['10.244.0.0/16'] }), { sourceAddress: '10.244.1.2' })).r.status, 200);
  t.is((await check(p({ ipBlocks: ['10.244.0.0/16'] }), { sourceAddress: '192.168.1.2' })).r.status, 403);
  // X-Forwarded-For counts only through trusted hops (numTrustedProxies, default 0: never).
  t.is((await check(p({ remoteIpBlocks: ['1.2.3.0/24'] }), { headers: { 'x-forwarded-for': '1.2.3.4, 10.0.0.1' } })).r.status, 403);
  t.is((await check(p({ remoteIpBlocks: ['1.2.3.0/24'] }), { headers: { 'x-forwarded-for': '1.2.3.4, 10.0.0.1' }, numTrustedProxies: 1 })).r.status, 403);
  t.is((await check(p({ remoteIpBlocks: ['1.2.3.0/24'] }), { headers: { 'x-forwarded-for': '1.2.3.4, 10.0.0.1' }, numTrustedProxies: 2 })).r.status, 200);
  t.is((await check(p({ remoteIpBlocks: ['1.2.3.0/24'] }), { headers: { 'x-forwarded-for': '1.2.3.4, 10.0.0.1' }, numTrustedProxies: 3 })).r.status, 403, 'fewer entries than hops: the source address');
  t.is((await check(p({ remoteIpBlocks: ['10.244.0.0/16'] }), { headers: { 'x-forwarded-for': '1.2.3.4' } })).r.status, 200, 'default: the source address');
  t.is((await check(p({ serviceAccounts: ['sleep'] }), {})).r.status, 200);
  t.is((await check(p({ requestPrincipals: ['*'] }), {})).r.status, 403, 'no JWT: requestPrincipals never match');
});

test('when: request.headers, source.ip, source.principal, destination.port, notValues', async (t) => {
  const p = (when: unknown[]) => [policy('a', { targetRef: gwRef, rules: [{ when }] })];
  t.is((await check(p([{ key: 'request.headers[x-token]', values: ['abc*'] }]), { headers: { 'x-token': 'abcdef' } })).r.status, 200);
  t.is((await check(p([{ key: 'request.headers[x-token]', values: ['abc*'] }]), {})).r.status, 403);
  t.is((await check(p([{ key: 'request.headers[x-token]', notValues: ['bad'] }]), { headers: { 'x-token': 'bad' } })).r.status, 403);
  t.is((await check(p([{ key: 'source.ip', values: ['10.244.0.10'] }]), {})).r.status, 200);
  t.is((await check(p([{ key: 'source.principal', values: ['cluster.local/ns/default/sa/sleep'] }]), {})).r.status, 200);
  t.is((await check(p([{ key: 'destination.port', values: ['9080'] }]), {})).r.status, 200);
  t.is((await check(p([{ key: 'destination.port', values: ['80'] }]), {})).r.status, 403);
});

test('an invalid rule fails closed: ALLOW never matches, DENY matches everything; status reports it', async (t) => {
  const bad = [{ when: [{ key: 'no.such.key', values: ['x'] }] }];
  const { r, env } = await check([policy('a', { targetRef: gwRef, action: 'ALLOW', rules: bad })], {});
  t.is(r.status, 403);
  t.is(env.status.get('AuthorizationPolicy', 'default', 'a', 'WaypointAccepted')?.reason, 'Invalid');
  t.is((await check([policy('d', { targetRef: gwRef, action: 'DENY', rules: bad })], {})).r.status, 403);
});

test('AUDIT never changes the decision and logs; CUSTOM is reported and enforced as DENY', async (t) => {
  const { r, env } = await check([policy('audit', { targetRef: gwRef, action: 'AUDIT', rules: [{}] })], {});
  t.is(r.status, 200);
  t.true(env.logger.lines.some((l) => l.includes('policy audit')));
  const c = await check([policy('ext', { targetRef: gwRef, action: 'CUSTOM', provider: { name: 'x' }, rules: [{ to: [{ operation: { paths: ['/x'] } }] }] })], { path: '/x' });
  t.is(c.r.status, 403);
  t.is(c.env.status.get('AuthorizationPolicy', 'default', 'ext', 'WaypointAccepted')?.reason, 'UnsupportedValue');
});

test('dry-run policies only log', async (t) => {
  const { r, env } = await check([policy('d', { targetRef: gwRef, action: 'DENY', rules: [{}] }, 'default', { 'istio.io/dry-run': 'true' })], {});
  t.is(r.status, 200);
  t.true(env.logger.lines.some((l) => l.includes('shadow denied')));
});

test('policy changes take effect on the next request (resources version)', async (t) => {
  const env = createTestEnv({ services, waypoint: { name: 'bookinfo-productpage' } });
  const plugin = env.create(AuthzPlugin);
  const req = { destination: '10.96.0.30:9080', principal: SLEEP };
  t.is((await runPlugin(plugin, req, { env })).status, 200);
  env.resources.replace([policy('deny', { targetRef: gwRef, action: 'DENY', rules: [{}] })]);
  t.is((await runPlugin(plugin, req, { env })).status, 403);
});

// Found by fuzz-authz.test.ts: fields of the wrong JSON type.
test('a rule that is not an object fails closed (an ALLOW rule of 5 used to allow every request)', async (t) => {
  const p = policy('a', { targetRef: gwRef, action: 'ALLOW', rules: [5] });
  const { r, env } = await check([p], {});
  t.is(r.status, 403);
  t.like(env.status.get('AuthorizationPolicy', 'default', 'a', 'WaypointAccepted'), { reason: 'Invalid', message: 'a rule must be an object' });
  t.is((await check([policy('d', { targetRef: gwRef, action: 'DENY', rules: ['x'] })], {})).r.status, 403);
});

test('a field of the wrong type is reported by name, not as a TypeError, and the rule fails closed', async (t) => {
  const p = policy('a', { targetRef: gwRef, action: 'ALLOW', rules: [{ from: [{ source: { principals: [5] } }] }] });
  const { r, env } = await check([p], {});
  t.is(r.status, 403);
  t.like(env.status.get('AuthorizationPolicy', 'default', 'a', 'WaypointAccepted'), { reason: 'Invalid', message: 'from[0].source.principals: expected a list of strings' });
  // Numbers stay accepted as ports, as before.
  t.is((await check([policy('n', { targetRef: gwRef, action: 'ALLOW', rules: [{ to: [{ operation: { ports: [9080] } }] }] })], {})).r.status, 200);
});

test('rules that are not a list: ALLOW allows nothing, DENY denies everything (compiling them threw a TypeError)', async (t) => {
  const allow = await check([policy('a', { targetRef: gwRef, action: 'ALLOW', rules: { from: [] } })], {});
  t.is(allow.r.status, 403);
  t.like(allow.env.status.get('AuthorizationPolicy', 'default', 'a', 'WaypointAccepted'), { reason: 'Invalid', message: 'rules: expected a list' });
  t.is((await check([policy('d', { targetRef: gwRef, action: 'DENY', rules: {} })], {})).r.status, 403);
});

test('targetRefs that are not a list, or hold a non-object, attach nothing (they threw a TypeError)', async (t) => {
  t.is((await check([policy('a', { targetRefs: 'x', action: 'DENY', rules: [{}] }), policy('b', { targetRefs: [null, 5], action: 'DENY', rules: [{}] })], {})).r.status, 200);
  t.is((await check([policy('c', { targetRefs: [null, gwRef], action: 'DENY', rules: [{}] })], {})).r.status, 403);
});

test('policies are compiled again only when AuthorizationPolicies change: a route change logs nothing new', async (t) => {
  const bad = policy('a', { targetRef: gwRef, action: 'ALLOW', rules: [{ when: [{ key: 'no.such.key', values: ['x'] }] }] });
  const { r, env } = await check([bad], {});
  t.is(r.status, 403);
  const warnings = () => env.logger.lines.filter((l) => l.includes('invalid policy rules')).length;
  t.is(warnings(), 1);
  const plugin = env.create(AuthzPlugin);
  t.is((await runPlugin(plugin, { destination: '10.96.0.30:9080', principal: SLEEP }, { env })).status, 403);
  const compiled = plugin.policies();
  t.is(warnings(), 2, 'a new plugin compiles once');

  env.resources.apply([{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'default' }, spec: {} }]);
  plugin.onConfig();
  t.is(plugin.policies(), compiled, 'an HTTPRoute change keeps the compiled policies');
  t.is(warnings(), 2);

  env.resources.apply([policy('a', { targetRef: gwRef, action: 'ALLOW', rules: [{}] })]);
  plugin.onConfig();
  t.not(plugin.policies(), compiled);
  t.is(warnings(), 2, 'the fixed policy compiles without a warning');
  t.is(env.status.get('AuthorizationPolicy', 'default', 'a', 'WaypointAccepted')?.reason, 'Accepted');
  t.is((await runPlugin(plugin, { destination: '10.96.0.30:9080', principal: SLEEP }, { env })).status, 200);
});
