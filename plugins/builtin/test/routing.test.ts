import test from 'ava';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { createTestEnv, runPlugin, type FakeRequest } from '@ambit/plugin-sdk/testing';
import { RoutingPlugin } from '../src/index.js';

const svc = (name: string, vip: string): ServiceView => ({ name, namespace: 'default', hostname: `${name}.default.svc.cluster.local`, vips: [`/${vip}`], ports: { 9080: 9080 } });
const wl = (name: string, ip: string, services: string[], version?: string): WorkloadView => ({
  uid: name,
  name,
  namespace: 'default',
  serviceAccount: 'bookinfo-reviews',
  workloadIps: [ip],
  protocol: 'HBONE',
  canonicalName: 'reviews',
  canonicalRevision: version,
  services: Object.fromEntries(services.map((s) => [`default/${s}.default.svc.cluster.local`, { 9080: 9080 }])),
});
const services = [svc('reviews', '10.96.0.31'), svc('reviews-v1', '10.96.0.32'), svc('reviews-v2', '10.96.0.33'), svc('reviews-v3', '10.96.0.34'), svc('productpage', '10.96.0.30')];
const workloads = [
  wl('reviews-v1-a', '10.244.0.11', ['reviews', 'reviews-v1'], 'v1'),
  wl('reviews-v2-a', '10.244.0.12', ['reviews', 'reviews-v2'], 'v2'),
  wl('reviews-v3-a', '10.244.0.13', ['reviews', 'reviews-v3'], 'v3'),
  wl('reviews-v3-b', '10.244.0.14', ['reviews', 'reviews-v3'], 'v3'),
];

const httpRoute = (name: string, spec: Record<string, unknown>): K8sObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'default' }, spec });
const reviewsParent = [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }];
const ref = (name: string, weight?: number) => ({ name, port: 9080, ...(weight === undefined ? {} : { weight }) });

function env(resources: K8sObject[], random?: () => number) {
  const e = createTestEnv({ services, workloads, resources });
  const plugin = e.create(RoutingPlugin);
  if (random) plugin.random = random;
  return { e, plugin, run: (req: FakeRequest = {}) => runPlugin(plugin, { destination: '10.96.0.31:9080', authority: 'reviews:9080', ...req }, { env: e }) };
}

test('no route: the destination service itself, an endpoint chosen through the mesh state', async (t) => {
  const { run } = env([]);
  const r = await run({ destination: '10.96.0.30:9080' });
  t.is(r.route?.name, 'default');
  t.is(r.route?.backend.service?.hostname, 'productpage.default.svc.cluster.local');
  t.is(r.route?.backend.endpoint, undefined, 'productpage has no endpoints in this mesh');
  const rv = await run();
  t.truthy(rv.route?.backend.endpoint?.address.startsWith('10.244.0.1'));
  t.is(rv.route?.backend.endpoint?.identity, 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews');
});

test('walkthrough step 7 (Gateway API): weights 90/10 between reviews-v1 and reviews-v2', async (t) => {
  let i = 0;
  const seq = Array.from({ length: 100 }, (_, k) => (k + 0.5) / 100);
  const { run } = env([httpRoute('reviews', { parentRefs: reviewsParent, rules: [{ backendRefs: [ref('reviews-v1', 90), ref('reviews-v2', 10)] }] })], () => seq[i++ % 100]!);
  const counts: Record<string, number> = {};
  for (let k = 0; k < 100; k++) {
    const r = await run();
    const name = r.route!.backend.service!.name;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  t.true(counts['reviews-v2']! >= 5 && counts['reviews-v2']! <= 15, JSON.stringify(counts));
});

test('HTTPRoute matching precedence: Exact > longest PathPrefix > method > headers > query', async (t) => {
  const { run } = env([
    httpRoute('a', {
      parentRefs: reviewsParent,
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/other' } }], backendRefs: [ref('reviews-v1')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [ref('reviews-v2')] },
        { matches: [{ path: { type: 'Exact', value: '/api/exact' } }], backendRefs: [ref('reviews-v3')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-v', value: '3' }] }], backendRefs: [ref('reviews-v3')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' }, queryParams: [{ name: 'v', value: '3' }] }], backendRefs: [ref('reviews-v3')] },
        { matches: [{ path: { type: 'RegularExpression', value: '/re/[0-9]+' } }], backendRefs: [ref('reviews-v3')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }], backendRefs: [ref('reviews')] },
      ],
    }),
  ]);
  const to = async (req: FakeRequest) => (await run(req)).route?.backend.service?.name;
  t.is(await to({ path: '/other' }), 'reviews-v1');
  t.is(await to({ path: '/api' }), 'reviews-v2');
  t.is(await to({ path: '/api/x' }), 'reviews-v2');
  t.is((await run({ path: '/apix' })).status, 404, 'PathPrefix matches whole path elements');
  t.is(await to({ path: '/api/exact' }), 'reviews-v3');
  t.is(await to({ path: '/api/x', headers: { 'x-v': '3' } }), 'reviews-v3');
  t.is(await to({ path: '/api/x?v=3' }), 'reviews-v3');
  t.is(await to({ path: '/api/x', method: 'POST' }), 'reviews');
  t.is(await to({ path: '/re/123' }), 'reviews-v3');
  t.is((await run({ path: '/re/abc' })).status, 404);
});

test('routes exist but none matches -> 404; invalid/missing backends -> 500', async (t) => {
  const { run } = env([httpRoute('a', { parentRefs: reviewsParent, rules: [{ matches: [{ path: { type: 'Exact', value: '/only' } }], backendRefs: [ref('reviews-v1')] }, { matches: [{ path: { type: 'Exact', value: '/missing' } }], backendRefs: [ref('nope')] }, { matches: [{ path: { type: 'Exact', value: '/empty' } }] }] })]);
  t.is((await run({ path: '/x' })).status, 404);
  t.is((await run({ path: '/missing' })).status, 500);
  t.is((await run({ path: '/empty' })).status, 500);
  t.is((await run({ path: '/only' })).status, 200);
});

test('HTTPRoute filters: request/response header modifiers, redirect, URL rewrite, mirror, timeouts', async (t) => {
  const { run } = env([
    httpRoute('a', {
      parentRefs: reviewsParent,
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/hdr' } }],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: 's' }], add: [{ name: 'x-add', value: 'a' }], remove: ['x-remove'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-resp', value: 'r' }], remove: ['server'] } },
            { type: 'RequestMirror', requestMirror: { backendRef: ref('reviews-v3'), percent: 50 } },
          ],
          backendRefs: [ref('reviews-v1')],
          timeouts: { request: '2s', backendRequest: '500ms' },
        },
        { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 } }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/rw' } }], filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'rewritten', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }], backendRefs: [ref('reviews-v2')] },
        { matches: [{ path: { type: 'PathPrefix', value: '/full' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/fixed' } } }], backendRefs: [ref('reviews-v2')] },
      ],
    }),
  ]);
  const h = await run({ path: '/hdr', headers: { 'x-remove': '1', 'x-add': '0' }, upstream: { headers: { server: 'envoy' } } });
  t.is(h.requestHeaders['x-set'], 's');
  t.deepEqual(h.requestHeaders['x-add'], ['0', 'a']);
  t.false('x-remove' in h.requestHeaders);
  t.is(h.responseHeaders['x-resp'], 'r');
  t.false('server' in h.responseHeaders);
  t.is(h.route?.timeoutMs, 2000);
  t.is(h.route?.retries?.perTryTimeoutMs, 500);
  t.is(h.route?.mirrors?.[0]?.backend.service?.name, 'reviews-v3');
  t.is(h.route?.mirrors?.[0]?.percent, 50);
  const redir = await run({ path: '/old/page?q=1' });
  t.is(redir.status, 301);
  t.is(redir.responseHeaders.location, 'https://example.com/new/page?q=1');
  const rw = await run({ path: '/rw/x?y=2' });
  t.deepEqual(rw.route?.rewrite, { path: '/v2/x?y=2', authority: 'rewritten' });
  t.is((await run({ path: '/full/a/b' })).route?.rewrite?.path, '/fixed');
});

test('HTTPRoute with parentRef to the waypoint Gateway applies to every service it serves (hostnames filter)', async (t) => {
  const { run } = env([httpRoute('gw', { parentRefs: [{ name: 'waypoint' }], hostnames: ['productpage'], rules: [{ backendRefs: [ref('reviews-v2')] }] })]);
  t.is((await run({ destination: '10.96.0.30:9080', authority: 'productpage:9080' })).route?.backend.service?.name, 'reviews-v2');
  t.is((await run({ destination: '10.96.0.30:9080', authority: 'other:9080' })).status, 404);
});

test('cross-namespace backendRef: a route on the waypoint Gateway needs a ReferenceGrant, the same route on a Service (mesh) does not', async (t) => {
  const other = { ...svc('remote', '10.96.1.1'), namespace: 'other', hostname: 'remote.other.svc.cluster.local' };
  const mk = (grant: boolean, destination: string) => {
    const e = createTestEnv({
      services: [...services, other],
      workloads,
      resources: [
        httpRoute('x', { parentRefs: [{ name: 'waypoint' }, ...reviewsParent], rules: [{ backendRefs: [{ name: 'remote', namespace: 'other', port: 9080 }] }] }),
        ...(grant ? [{ apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'other' }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: '', kind: 'Service' }] } }] : []),
      ],
    });
    return runPlugin(e.create(RoutingPlugin), { destination }, { env: e });
  };
  // productpage has no Service route: the waypoint Gateway parent applies.
  t.is((await mk(false, '10.96.0.30:9080')).status, 500);
  t.is((await mk(true, '10.96.0.30:9080')).route?.backend.service?.hostname, 'remote.other.svc.cluster.local');
  // reviews: the Service parent applies (GEP-1294: mesh routes need no ReferenceGrant).
  t.is((await mk(false, '10.96.0.31:9080')).route?.backend.service?.hostname, 'remote.other.svc.cluster.local');
});

test('a ReferenceGrant pushed later lets the waypoint-Gateway route through (v1 or v1beta1), its deletion gives 500 again; one naming another Service or in the route\'s namespace grants nothing', async (t) => {
  const other = { ...svc('remote', '10.96.1.1'), namespace: 'other', hostname: 'remote.other.svc.cluster.local' };
  const route = httpRoute('x', { parentRefs: [{ name: 'waypoint' }], rules: [{ backendRefs: [{ name: 'remote', namespace: 'other', port: 9080 }] }] });
  const grant = (apiVersion: string, namespace: string, to: Record<string, string> = { group: '', kind: 'Service' }): K8sObject => ({
    apiVersion,
    kind: 'ReferenceGrant',
    metadata: { name: 'g', namespace },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }], to: [to] },
  });
  const e = createTestEnv({ services: [...services, other], workloads, resources: [route] });
  const plugin = e.create(RoutingPlugin);
  const run = () => runPlugin(plugin, { destination: '10.96.0.30:9080' }, { env: e });
  t.is((await run()).status, 500);
  // The same plugin instance, new resources (as a config push replaces them).
  e.resources.replace([route, grant('gateway.networking.k8s.io/v1', 'other')]);
  t.is((await run()).route?.backend.service?.hostname, 'remote.other.svc.cluster.local');
  e.resources.replace([route]);
  t.is((await run()).status, 500);
  e.resources.replace([route, grant('gateway.networking.k8s.io/v1beta1', 'other', { group: '', kind: 'Service', name: 'remote' })]);
  t.is((await run()).route?.backend.service?.hostname, 'remote.other.svc.cluster.local');
  e.resources.replace([route, grant('gateway.networking.k8s.io/v1beta1', 'other', { group: '', kind: 'Service', name: 'not-remote' }), grant('gateway.networking.k8s.io/v1', 'default')]);
  t.is((await run()).status, 500);
});

test('a route compiled before its backend Service existed routes once the Service arrives, and 500s again once it goes; an unchanged route is not compiled again', async (t) => {
  const route = httpRoute('late', { parentRefs: [{ name: 'waypoint' }], rules: [{ backendRefs: [{ name: 'late', port: 9080 }] }] });
  const e = createTestEnv({ services, workloads, resources: [route] });
  const plugin = e.create(RoutingPlugin);
  const run = () => runPlugin(plugin, { destination: '10.96.0.30:9080' }, { env: e });
  t.is((await run()).status, 500);
  const table = plugin.table();
  e.resources.apply([{ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'other', namespace: 'default' }, spec: { host: 'ratings' } }]);
  t.is((await run()).status, 500);
  t.not(plugin.table(), table, 'a DestinationRule change builds a new table');
  t.is(plugin.table().http.gateway[0]!.action, table.http.gateway[0]!.action, 'with the unchanged route as compiled before');
  // The same route object, a new Service: the compiled route must not be reused.
  e.mesh.applyDelta({ services: [svc('late', '10.96.0.99')] });
  t.is((await run()).route?.backend.service?.hostname, 'late.default.svc.cluster.local');
  e.mesh.applyDelta({}, { services: ['default/late.default.svc.cluster.local'] });
  t.is((await run()).status, 500);
});

const dr: K8sObject = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews', namespace: 'default' },
  spec: { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }, { name: 'v3', labels: { version: 'v3' } }] },
};
const vs = (http: unknown[]): K8sObject => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'default' }, spec: { hosts: ['reviews'], http } });

test('walkthrough step 7 (Istio API): DestinationRule subsets + VirtualService 90/10', async (t) => {
  let i = 0;
  const { run } = env([dr, vs([{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 10 }] }])], () => ((i++ % 100) + 0.5) / 100);
  const counts: Record<string, number> = {};
  for (let k = 0; k < 100; k++) {
    const r = await run();
    const w = r.route!.backend.endpoint!.workload!.name;
    counts[w] = (counts[w] ?? 0) + 1;
  }
  t.true(counts['reviews-v2-a']! >= 5 && counts['reviews-v2-a']! <= 15, JSON.stringify(counts));
  t.false('reviews-v3-a' in counts);
});

test('VirtualService matches (uri prefix/exact/regex, headers, method), first match wins; no match -> 404', async (t) => {
  const { run } = env([
    dr,
    vs([
      { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      { match: [{ uri: { prefix: '/v3' } }, { uri: { regex: '/r[0-9]+' } }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
      { match: [{ method: { exact: 'GET' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ]),
  ]);
  const version = async (req: FakeRequest) => (await run(req)).route?.backend.endpoint?.workload?.canonicalRevision;
  t.is(await version({ headers: { 'end-user': 'jason' }, path: '/v3' }), 'v2');
  t.is(await version({ path: '/v3/x', method: 'POST' }), 'v3');
  t.is(await version({ path: '/r12', method: 'POST' }), 'v3');
  t.is(await version({ path: '/' }), 'v1');
  t.is((await run({ path: '/', method: 'POST' })).status, 404);
});

test('VirtualService retries, timeout, rewrite, header operations; DestinationRule ROUND_ROBIN alternates endpoints', async (t) => {
  const { run } = env([
    dr,
    vs([{ route: [{ destination: { host: 'reviews', subset: 'v3' }, headers: { request: { set: { 'x-d': '1' } } } }], timeout: '3s', retries: { attempts: 4, perTryTimeout: '1s', retryOn: '5xx,connect-failure' }, rewrite: { uri: '/new' }, headers: { response: { add: { 'x-r': 'y' } } } }]),
  ]);
  const a = await run({ path: '/old' });
  t.is(a.route?.timeoutMs, 3000);
  t.deepEqual(a.route?.retries, { attempts: 4, perTryTimeoutMs: 1000, retryOn: ['5xx', 'connect-failure'], retriableStatusCodes: [503] });
  t.is(a.route?.rewrite?.path, '/new');
  t.is(a.requestHeaders['x-d'], '1');
  t.is(a.responseHeaders['x-r'], 'y');
  const b = await run();
  t.not(a.route?.backend.endpoint?.address, b.route?.backend.endpoint?.address, 'round robin over the two v3 endpoints');
  t.is(a.route?.backend.alternatives?.length, 1);
});

test('VirtualService fault injection: abort with status, delay through the clock', async (t) => {
  const { run, e } = env([vs([{ fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: [{ destination: { host: 'reviews' } }] }])]);
  const r = await run();
  t.is(r.status, 418);
  t.is(r.body, 'fault filter abort');
  const d = env([vs([{ fault: { delay: { fixedDelay: '7s', percentage: { value: 100 } } }, route: [{ destination: { host: 'reviews' } }] }])]);
  const before = d.e.clock.now();
  t.is((await d.run()).status, 200);
  t.is(d.e.clock.now() - before, 7000);
  t.truthy(e);
});

test('a VirtualService compiled before its DestinationRule existed routes to the subset once the rule arrives; another VirtualService is not compiled again', async (t) => {
  const toV2 = vs([{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }]);
  const other: K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'ratings', namespace: 'default' }, spec: { hosts: ['ratings'], http: [{ route: [{ destination: { host: 'ratings' } }] }] } };
  const { e, plugin, run } = env([toV2, other]);
  t.is((await run()).route?.backend.endpoint, undefined, 'subset v2 is unknown without the DestinationRule');
  e.resources.apply([dr]);
  t.is((await run()).route?.backend.endpoint?.workload?.canonicalRevision, 'v2');
  const rules = plugin.table().vs.find((v) => v.hosts[0]!.startsWith('ratings'))!.rules;
  e.resources.apply([vs([{ route: [{ destination: { host: 'reviews', subset: 'v3' } }] }])]);
  t.is((await run()).route?.backend.endpoint?.workload?.canonicalRevision, 'v3', 'the changed VirtualService is compiled again');
  t.is(plugin.table().vs.find((v) => v.hosts[0]!.startsWith('ratings'))!.rules, rules, 'the unchanged one is not');
});

test('unknown subset has no endpoints (503 later from the runtime: no healthy upstream)', async (t) => {
  const { run } = env([dr, vs([{ route: [{ destination: { host: 'reviews', subset: 'v9' } }] }])]);
  const r = await run();
  t.is(r.route?.backend.endpoint, undefined);
  t.deepEqual(r.route?.backend.alternatives, []);
});
