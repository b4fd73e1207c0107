// One bad route must not take down a waypoint's routing (issue 12, hardening). A route the compilers refuse (an
// HTTPRoute header match with no name, a GRPCRoute whose rules are not a list, a VirtualService whose `http` or
// `hosts` is not a list) is left out of the route table alone: every other route keeps working, the Services the bad
// route targeted get their default routing, and the waypoint logs one warning per config version naming the object,
// the field and the reason.
import test from 'ava';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { createTestEnv, runPlugin, type FakeRequest } from '@ambit/plugin-sdk/testing';
import { RoutingPlugin } from '../src/index.js';

const svc = (name: string, vip: string): ServiceView => ({ name, namespace: 'default', hostname: `${name}.default.svc.cluster.local`, vips: [`/${vip}`], ports: { 9080: 9080 } });
const wl = (name: string, ip: string, services: string[]): WorkloadView => ({
  uid: name,
  name,
  namespace: 'default',
  serviceAccount: 'bookinfo',
  workloadIps: [ip],
  protocol: 'HBONE',
  services: Object.fromEntries(services.map((s) => [`default/${s}.default.svc.cluster.local`, { 9080: 9080 }])),
});
const services = [svc('reviews', '10.96.0.31'), svc('reviews-v1', '10.96.0.32'), svc('reviews-v2', '10.96.0.33'), svc('ratings', '10.96.0.35')];
const workloads = [wl('reviews-v1-a', '10.244.0.11', ['reviews', 'reviews-v1']), wl('reviews-v2-a', '10.244.0.12', ['reviews', 'reviews-v2']), wl('ratings-a', '10.244.0.15', ['ratings'])];

const GW = 'gateway.networking.k8s.io/v1';
const parent = (name: string) => [{ group: '', kind: 'Service', name, port: 9080 }];
const httpRoute = (name: string, spec: Record<string, unknown>): K8sObject => ({ apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'default' }, spec });
const grpcRoute = (name: string, spec: Record<string, unknown>): K8sObject => ({ apiVersion: GW, kind: 'GRPCRoute', metadata: { name, namespace: 'default' }, spec });
const vs = (name: string, spec: Record<string, unknown>): K8sObject => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: 'default' }, spec });
/** Good: every request for reviews goes to reviews-v2. */
const goodReviews = httpRoute('reviews', { parentRefs: parent('reviews'), rules: [{ backendRefs: [{ name: 'reviews-v2', port: 9080 }] }] });

function waypoint(resources: K8sObject[]) {
  const e = createTestEnv({ services, workloads, resources });
  const plugin = e.create(RoutingPlugin);
  const run = (req: FakeRequest) => runPlugin(plugin, { principal: 'spiffe://cluster.local/ns/default/sa/sleep', ...req }, { env: e });
  const warnings = (object: string) => e.logger.lines.filter((l) => l.includes('\twarn\t') && l.includes(`object="${object}"`));
  return { e, run, warnings };
}
const reviews: FakeRequest = { destination: '10.96.0.31:9080', authority: 'reviews:9080' };
const ratings: FakeRequest = { destination: '10.96.0.35:9080', authority: 'ratings:9080' };

test('HTTPRoute: a header match with no name is left out alone; the good route routes, its Service gets default routing, one log line', async (t) => {
  const bad = httpRoute('ratings-bad', { parentRefs: parent('ratings'), rules: [{ matches: [{ headers: [{ value: 'x' }] }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }] });
  const { e, run, warnings } = waypoint([goodReviews, bad]);
  for (let i = 0; i < 3; i++) {
    const r = await run(reviews);
    t.is(r.status, 200);
    t.is(r.route?.name, 'HTTPRoute/default/reviews');
    t.is(r.route?.backend.service?.name, 'reviews-v2');
    const d = await run(ratings);
    t.is(d.status, 200);
    t.is(d.route?.name, 'default', 'the bad route is not applied: the Service itself');
    t.is(d.route?.backend.service?.name, 'ratings');
    t.is(d.route?.backend.endpoint?.address, '10.244.0.15');
  }
  const w = warnings('HTTPRoute default/ratings-bad');
  t.is(w.length, 1, e.logger.lines.join('\n'));
  t.regex(w[0]!, /route refused/);
  t.regex(w[0]!, /field="spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.name"/);
  t.regex(w[0]!, /reason="required"/);
  t.is(warnings('HTTPRoute default/reviews').length, 0);
  // A new config version logs it again (once), the good route still routing.
  e.resources.replace([goodReviews, bad]);
  t.is((await run(reviews)).route?.backend.service?.name, 'reviews-v2');
  await run(ratings);
  t.is(warnings('HTTPRoute default/ratings-bad').length, 2);
});

test('HTTPRoute: a bad route on the same Service as a good one; the good one still applies, the bad one alone is dropped', async (t) => {
  const bad = httpRoute('reviews-bad', { parentRefs: parent('reviews'), rules: [{ filters: [{ type: 'RequestMirror', requestMirror: {} }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }] });
  const { run, warnings } = waypoint([goodReviews, bad]);
  const r = await run(reviews);
  t.is(r.status, 200);
  t.is(r.route?.backend.service?.name, 'reviews-v2');
  t.is(warnings('HTTPRoute default/reviews-bad').length, 1);
  t.regex(warnings('HTTPRoute default/reviews-bad')[0]!, /field="spec\.rules\[0\]\.filters\[0\]\.requestMirror\.backendRef" reason="required"/);
});

test('HTTPRoute: an invalid regular expression refuses that route only, naming the field', async (t) => {
  const bad = httpRoute('ratings-re', { parentRefs: parent('ratings'), rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/a[' } }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }] });
  const { run, warnings } = waypoint([goodReviews, bad]);
  t.is((await run(reviews)).route?.backend.service?.name, 'reviews-v2');
  t.is((await run(ratings)).route?.name, 'default');
  const w = warnings('HTTPRoute default/ratings-re');
  t.is(w.length, 1);
  t.regex(w[0]!, /field="spec\.rules\[0\]\.matches\[0\]\.path\.value" reason="invalid regular expression/);
});

test('GRPCRoute: rules that are not a list refuse that route only; HTTP routing goes on', async (t) => {
  const bad = grpcRoute('ratings-grpc', { parentRefs: parent('ratings'), rules: { matches: [] } });
  const { run, warnings } = waypoint([goodReviews, bad]);
  const grpc = { method: 'POST', path: '/ratings.Ratings/Get', headers: { 'content-type': 'application/grpc' } };
  t.is((await run({ ...reviews, ...grpc })).route?.backend.service?.name, 'reviews-v2');
  t.is((await run({ ...ratings, ...grpc })).route?.name, 'default');
  const w = warnings('GRPCRoute default/ratings-grpc');
  t.is(w.length, 1);
  t.regex(w[0]!, /field="spec\.rules" reason="expected a list"/);
});

test('VirtualService: `http` not a list is left out alone; the other VirtualService routes, one log line', async (t) => {
  const good = vs('reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews-v2' } }] }] });
  const bad = vs('ratings', { hosts: ['ratings'], http: { route: [{ destination: { host: 'reviews-v1' } }] } });
  const { run, warnings } = waypoint([good, bad]);
  for (let i = 0; i < 3; i++) {
    const r = await run(reviews);
    t.is(r.status, 200);
    t.is(r.route?.name, 'VirtualService/default/reviews/0');
    t.is(r.route?.backend.service?.name, 'reviews-v2');
    const d = await run(ratings);
    t.is(d.status, 200);
    t.is(d.route?.name, 'default');
    t.is(d.route?.backend.service?.name, 'ratings');
  }
  const w = warnings('VirtualService default/ratings');
  t.is(w.length, 1);
  t.regex(w[0]!, /field="spec\.http" reason="expected a list"/);
  t.is(warnings('VirtualService default/reviews').length, 0);
});

test('VirtualService: `hosts` and `gateways` not lists, `match: [null]`, are refused by name; the good one routes', async (t) => {
  const good = vs('reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews-v2' } }] }] });
  const { run, warnings } = waypoint([
    good,
    vs('hosts', { hosts: 'ratings', http: [{ route: [{ destination: { host: 'reviews-v1' } }] }] }),
    vs('gateways', { hosts: ['ratings'], gateways: 'mesh', http: [{ route: [{ destination: { host: 'reviews-v1' } }] }] }),
    vs('match', { hosts: ['ratings'], http: [{ match: [null], route: [{ destination: { host: 'reviews-v1' } }] }] }),
    vs('host5', { hosts: [5], http: [] }),
  ]);
  t.is((await run(reviews)).route?.backend.service?.name, 'reviews-v2');
  const d = await run(ratings);
  t.is(d.route?.name, 'default');
  t.is(d.route?.backend.service?.name, 'ratings');
  t.regex(warnings('VirtualService default/hosts')[0] ?? '', /field="spec\.hosts" reason="expected a list"/);
  t.regex(warnings('VirtualService default/gateways')[0] ?? '', /field="spec\.gateways" reason="expected a list"/);
  t.regex(warnings('VirtualService default/match')[0] ?? '', /field="spec\.http\[0\]\.match\[0\]" reason="expected a value"/);
  t.regex(warnings('VirtualService default/host5')[0] ?? '', /field="spec\.hosts\[0\]" reason="expected a string"/);
  for (const n of ['hosts', 'gateways', 'match', 'host5']) t.is(warnings(`VirtualService default/${n}`).length, 1, n);
});

test('the route table is compiled again only when a kind it reads changes: an AuthorizationPolicy change logs nothing new', async (t) => {
  const bad = httpRoute('ratings-bad', { parentRefs: parent('ratings'), rules: [{ matches: [{ headers: [{ value: 'x' }] }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }] });
  const { e, run, warnings } = waypoint([goodReviews, bad]);
  await run(reviews);
  t.is(warnings('HTTPRoute default/ratings-bad').length, 1);

  e.resources.apply([{ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'default' }, spec: {} }]);
  t.is((await run(reviews)).route?.backend.service?.name, 'reviews-v2');
  t.is(warnings('HTTPRoute default/ratings-bad').length, 1, 'a policy change keeps the table');

  e.resources.apply([{ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'd', namespace: 'default' }, spec: { host: 'ratings' } }]);
  t.is((await run(reviews)).route?.backend.service?.name, 'reviews-v2');
  t.is(warnings('HTTPRoute default/ratings-bad').length, 2, 'a DestinationRule change compiles it again');

  e.mesh.replace({ services: [...services, svc('details', '10.96.0.36')], workloads });
  t.is((await run(reviews)).route?.backend.service?.name, 'reviews-v2');
  t.is(warnings('HTTPRoute default/ratings-bad').length, 3, 'and so does a Service change');
});
