// A route the waypoint will refuse (its shape checks, shared through @ambit/mesh-api/routes) is reported by the
// controller as Istio reports an invalid route: `Accepted` False, reason `UnsupportedValue`, the message naming the
// field; its ResolvedRefs and ResolvedWaypoints are still computed. A valid route stays Accepted.
import test from 'ava';
import type { KubeObject } from '../src/kube/resources.js';
import type { MeshInput } from '../src/mesh/input.js';
import { buildMesh } from '../src/mesh/build.js';
import { routeParentStatuses } from '../src/status/compute.js';

const GW = 'gateway.networking.k8s.io';
const svc = (name: string, labels: Record<string, string> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bookinfo', labels }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 9080 }], selector: { app: name } } }) as KubeObject;
const input = (): MeshInput => ({
  pods: [],
  namespaces: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bookinfo' } }],
  services: [svc('reviews', { 'istio.io/use-waypoint': 'waypoint' }), svc('reviews-v1')] as MeshInput['services'],
  gateways: [
    {
      apiVersion: `${GW}/v1`,
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'bookinfo' },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
      status: { addresses: [{ type: 'Hostname', value: 'waypoint.bookinfo.svc.cluster.local' }] },
    },
  ] as MeshInput['gateways'],
  gatewayClasses: [{ apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: 'istio-waypoint' }, spec: { controllerName: 'istio.io/mesh-controller' } }] as MeshInput['gatewayClasses'],
});
const reviews = { group: '', kind: 'Service', name: 'reviews', port: 9080 };
const wp = { group: GW, kind: 'Gateway', name: 'waypoint' };
const route = (kind: string, name: string, parentRefs: unknown[], rules: unknown): KubeObject => ({ apiVersion: `${GW}/v1`, kind, metadata: { name, namespace: 'bookinfo', generation: 5 }, spec: { parentRefs, rules } });
const accepted = (r: KubeObject) => routeParentStatuses(r, input()).map((p) => p.conditions.find((c) => c.type === 'Accepted'));

test('HTTPRoute the waypoint refuses: Accepted False UnsupportedValue naming the field, on every parent; the others stay Accepted', (t) => {
  const bad = route('HTTPRoute', 'bad', [reviews, wp], [{ matches: [{ headers: [{ value: 'x' }] }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  const statuses = routeParentStatuses(bad, input());
  t.is(statuses.length, 2);
  for (const s of statuses) {
    t.deepEqual(s.conditions[0], { type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: 'spec.rules[0].matches[0].headers[0].name: required', observedGeneration: 5 });
    t.like(s.conditions[1], { type: 'ResolvedRefs', status: 'True' });
  }
  t.like(statuses[0]!.conditions[2], { type: 'ResolvedWaypoints', reason: 'ResolvedWaypoints' });
  const re = route('HTTPRoute', 're', [reviews], [{ matches: [{ path: { type: 'RegularExpression', value: '/a[' } }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  t.like(accepted(re)[0], { status: 'False', reason: 'UnsupportedValue' });
  t.regex(accepted(re)[0]!.message, /^spec\.rules\[0\]\.matches\[0\]\.path\.value: invalid regular expression/);
  const good = route('HTTPRoute', 'good', [reviews], [{ matches: [{ headers: [{ name: 'x-v', value: 'x' }] }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  t.deepEqual(accepted(good), [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid', observedGeneration: 5 }]);
});

test('HTTPRoute with a CORS filter: Accepted when well formed; a malformed one Accepted False UnsupportedValue naming the field', (t) => {
  const cors = (c: unknown) => route('HTTPRoute', 'cors', [reviews], [{ filters: [{ type: 'CORS', cors: c }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  t.like(accepted(cors({ allowOrigins: ['https://*.bar.com'], allowMethods: ['*'], allowCredentials: true, maxAge: 3600 }))[0], { status: 'True', reason: 'Accepted' });
  t.deepEqual(accepted(cors({ allowOrigins: ['https://a.com'], allowMethods: ['GET', 'get'] })), [
    { type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: "spec.rules[0].filters[0].cors.allowMethods[1]: expected an HTTP method or '*'", observedGeneration: 5 },
  ]);
  t.like(accepted(cors(undefined))[0], { status: 'False', reason: 'UnsupportedValue', message: 'spec.rules[0].filters[0].cors: required for a CORS filter' });
});

test('GRPCRoute the waypoint refuses: checked as a GRPCRoute (method matches), Accepted False UnsupportedValue', (t) => {
  const bad = route('GRPCRoute', 'bad', [reviews], [{ matches: [{ method: { type: 'RegularExpression', service: 'a(' } }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  t.like(accepted(bad)[0], { status: 'False', reason: 'UnsupportedValue' });
  t.regex(accepted(bad)[0]!.message, /^spec\.rules\[0\]\.matches\[0\]\.method: invalid regular expression/);
  const good = route('GRPCRoute', 'good', [reviews], [{ matches: [{ method: { service: 'echo.Echo', method: 'Get' } }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  t.like(accepted(good)[0], { status: 'True', reason: 'Accepted' });
});

test('a route whose rules are not a list: reported (UnsupportedValue), no TypeError while computing its status', (t) => {
  const bad = route('HTTPRoute', 'bad', [reviews], { backendRefs: [{ name: 'nope', port: 9080 }] });
  t.deepEqual(accepted(bad), [{ type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: 'spec.rules: expected a list', observedGeneration: 5 }]);
  // parentRefs not a list: no parent this controller can report on.
  t.deepEqual(routeParentStatuses({ ...bad, spec: { parentRefs: reviews } }, input()), []);
});

test('malformed routes and VirtualServices do not stop the mesh model: the waypoint is still sent every object (it refuses the bad ones alone)', (t) => {
  const inp = input();
  const good = route('HTTPRoute', 'good', [reviews], [{ backendRefs: [{ name: 'reviews-v1', port: 9080 }] }]);
  inp.httpRoutes = [
    good,
    route('HTTPRoute', 'rules-object', [reviews], {}),
    route('HTTPRoute', 'null-items', [reviews, null], [null, { backendRefs: {} }]),
    { ...good, metadata: { name: 'parents-object', namespace: 'bookinfo' }, spec: { parentRefs: {}, rules: [] } } as KubeObject,
  ];
  inp.virtualServices = [
    { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'hosts-string', namespace: 'bookinfo' }, spec: { hosts: 'reviews', http: {} } },
    { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'vs', namespace: 'bookinfo' }, spec: { hosts: ['reviews'], http: [null, { route: [null, { destination: { host: 5 } }] }] } },
  ] as MeshInput['virtualServices'];
  const model = buildMesh(inp);
  const sent = (model.waypoints.get('bookinfo/waypoint')?.resources ?? []).map((r) => `${r.kind}/${r.metadata.name}`).sort();
  t.deepEqual(sent.filter((k) => k.startsWith('HTTPRoute/') || k.startsWith('VirtualService/')), ['HTTPRoute/good', 'HTTPRoute/null-items', 'HTTPRoute/rules-object', 'VirtualService/vs']);
  for (const r of inp.httpRoutes.slice(1)) t.notThrows(() => routeParentStatuses(r, inp), r.metadata.name);
});
