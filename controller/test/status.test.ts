import test from 'ava';
import type { KubeObject } from '../src/kube/resources.js';
import { mergeRouteParents } from '../src/kube/status.js';
import { buildMesh } from '../src/mesh/build.js';
import type { MeshInput } from '../src/mesh/input.js';
import { attachedRoutes, authorizationPolicyConditions, MSG_MISSING_LABEL, routeParentStatuses } from '../src/status/compute.js';

const HTTP_WARNING =
  'ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';

const svc = (name: string, labels: Record<string, string> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bookinfo', labels }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 9080 }], selector: { app: name } } }) as KubeObject;

function input(extra: Partial<MeshInput> = {}): MeshInput {
  return {
    pods: [],
    namespaces: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bookinfo' } }],
    services: [svc('reviews', { 'istio.io/use-waypoint': 'waypoint' }), svc('ratings'), svc('reviews-v1'), svc('reviews-v2')] as MeshInput['services'],
    gateways: [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: 'waypoint', namespace: 'bookinfo' },
        spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
        status: { addresses: [{ type: 'Hostname', value: 'waypoint.bookinfo.svc.cluster.local' }] },
      },
    ] as MeshInput['gateways'],
    gatewayClasses: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'istio-waypoint' }, spec: { controllerName: 'istio.io/mesh-controller' } }] as MeshInput['gatewayClasses'],
    ...extra,
  };
}

const policy = (name: string, spec: Record<string, unknown>, generation = 3): KubeObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: 'bookinfo', generation },
  spec,
});

test('AuthorizationPolicy: L4 policy is ZtunnelAccepted; HTTP attributes give UnsupportedValue with Istio\'s message', (t) => {
  const l4 = policy('l4', { selector: { matchLabels: { app: 'ratings' } }, rules: [{ from: [{ source: { namespaces: ['bookinfo'] } }] }] });
  const l7 = policy('l7', { selector: { matchLabels: { app: 'ratings' } }, rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }, 7);
  const audit = policy('audit', { action: 'AUDIT', rules: [{}] });
  const inp = input({ authorizationPolicies: [l4, l7, audit] });
  const model = buildMesh(inp);
  t.deepEqual(authorizationPolicyConditions(l4, inp, model), [{ type: 'ZtunnelAccepted', status: 'True', reason: 'Accepted', message: 'attached to ztunnel', observedGeneration: 3 }]);
  t.deepEqual(authorizationPolicyConditions(l7, inp, model), [{ type: 'ZtunnelAccepted', status: 'False', reason: 'UnsupportedValue', message: HTTP_WARNING, observedGeneration: 7 }]);
  t.deepEqual(authorizationPolicyConditions(audit, inp, model), [
    { type: 'ZtunnelAccepted', status: 'False', reason: 'UnsupportedValue', message: 'ztunnel does not support the AUDIT action', observedGeneration: 3 },
  ]);
});

test('AuthorizationPolicy with targetRefs: WaypointAccepted bound to the waypoint (Gateway or bound Service), else not', (t) => {
  const gw = policy('gw', { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  const bySvc = policy('svc', { targetRefs: [{ kind: 'Service', group: '', name: 'reviews' }] });
  const unbound = policy('unbound', { targetRefs: [{ kind: 'Service', group: '', name: 'ratings' }] });
  const missing = policy('missing', { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'nope' }] });
  const inp = input({ authorizationPolicies: [gw, bySvc, unbound, missing] });
  const model = buildMesh(inp);
  t.deepEqual(authorizationPolicyConditions(gw, inp, model), [{ type: 'WaypointAccepted', status: 'True', reason: 'Accepted', message: 'bound to bookinfo/waypoint', observedGeneration: 3 }]);
  t.deepEqual(authorizationPolicyConditions(bySvc, inp, model), [{ type: 'WaypointAccepted', status: 'True', reason: 'Accepted', message: 'bound to bookinfo/waypoint', observedGeneration: 3 }]);
  t.like(authorizationPolicyConditions(unbound, inp, model)[0], { type: 'WaypointAccepted', status: 'False', reason: 'AncestorNotBound' });
  t.like(authorizationPolicyConditions(missing, inp, model)[0], { type: 'WaypointAccepted', status: 'False', reason: 'TargetNotFound' });
});

const route = (name: string, parentRefs: unknown[], backends: string[]): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'bookinfo', generation: 2 },
  spec: { parentRefs, rules: [{ backendRefs: backends.map((b) => ({ name: b, port: 9080 })) }] },
});

test('HTTPRoute: a GAMMA parent bound to a waypoint resolves; an unbound one says the route will not be respected', (t) => {
  const reviews = { group: '', kind: 'Service', name: 'reviews', port: 9080 };
  const ratings = { group: '', kind: 'Service', name: 'ratings', port: 9080 };
  const r = route('r', [reviews, ratings], ['reviews-v1', 'reviews-v2']);
  const got = routeParentStatuses(r, input({ httpRoutes: [r] }));
  const ok = [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid', observedGeneration: 2 },
    { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved', observedGeneration: 2 },
  ];
  t.deepEqual(got, [
    { parentRef: reviews, controllerName: 'istio.io/mesh-controller', conditions: [...ok, { type: 'ResolvedWaypoints', status: 'True', reason: 'ResolvedWaypoints', message: 'All waypoints resolved', observedGeneration: 2 }] },
    { parentRef: ratings, controllerName: 'istio.io/mesh-controller', conditions: [...ok, { type: 'ResolvedWaypoints', status: 'True', reason: 'MissingUseWaypointLabel', message: MSG_MISSING_LABEL, observedGeneration: 2 }] },
  ]);
});

test('HTTPRoute: a missing backend is BackendNotFound; waypoint Gateway parents get entries, ingress Gateways do not', (t) => {
  const wp = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' };
  const ingress = { name: 'ingress' };
  const r = route('r', [wp, ingress], ['reviews-v3']);
  const inp = input({ httpRoutes: [r] });
  inp.gateways.push({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'ingress', namespace: 'bookinfo' }, spec: { gatewayClassName: 'istio', listeners: [] } } as never);
  const got = routeParentStatuses(r, inp);
  t.is(got.length, 1);
  t.deepEqual(got[0].parentRef, wp);
  t.deepEqual(got[0].conditions[1], { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: 'backend(s) not found: Service bookinfo/reviews-v3', observedGeneration: 2 });
});

test('HTTPRoute parents merge keeps other controllers\' entries and the transition time of unchanged conditions', (t) => {
  const other = { parentRef: { name: 'ingress' }, controllerName: 'example.com/gateway', conditions: [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  const r = route('r', [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], ['reviews-v1']);
  const ours = routeParentStatuses(r, input());
  const first = mergeRouteParents([other], 'istio.io/mesh-controller', ours, '2026-02-01T00:00:00Z');
  const second = mergeRouteParents(first, 'istio.io/mesh-controller', ours, '2026-03-01T00:00:00Z');
  t.deepEqual(second[0], other);
  t.is(second.length, 2);
  t.true(second[1].conditions.every((c) => c.lastTransitionTime === '2026-02-01T00:00:00Z'));
});

test('waypoint Gateway: attachedRoutes counts routes naming it per listener; a namespace its listener does not allow is not Accepted', (t) => {
  const wp = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint', namespace: 'bookinfo' };
  const same = route('same', [wp], ['reviews-v1']);
  const other = { ...route('other', [wp], ['reviews-v1']), metadata: { name: 'other', namespace: 'elsewhere', generation: 1 } };
  const gamma = route('gamma', [{ group: '', kind: 'Service', name: 'reviews' }], ['reviews-v1']);
  const inp = input({ httpRoutes: [same, other, gamma] });
  t.deepEqual([...attachedRoutes(inp.gateways[0], inp)], [['mesh', 1]]);
  t.like(routeParentStatuses(other, inp)[0].conditions[0], { type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners' });
  t.like(routeParentStatuses(same, inp)[0].conditions[0], { type: 'Accepted', status: 'True' });
  (inp.gateways[0].spec.listeners![0] as { allowedRoutes?: unknown }).allowedRoutes = { namespaces: { from: 'All' } };
  t.deepEqual([...attachedRoutes(inp.gateways[0], inp)], [['mesh', 2]]);
});

test('HTTPRoute: a consumer route (another namespace) to a Service, with backends in the Service\'s namespace, is Accepted with ResolvedRefs True and no ReferenceGrant', (t) => {
  const reviews = { group: '', kind: 'Service', name: 'reviews', namespace: 'bookinfo', port: 9080 };
  const r: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'consumer', namespace: 'sleep', generation: 4 },
    spec: { parentRefs: [reviews], rules: [{ backendRefs: [{ name: 'reviews-v1', namespace: 'bookinfo', port: 9080 }] }] },
  };
  const inp = input({ httpRoutes: [r] });
  inp.namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sleep' } });
  t.deepEqual(routeParentStatuses(r, inp), [
    {
      parentRef: reviews,
      controllerName: 'istio.io/mesh-controller',
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid', observedGeneration: 4 },
        { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved', observedGeneration: 4 },
        { type: 'ResolvedWaypoints', status: 'True', reason: 'ResolvedWaypoints', message: 'All waypoints resolved', observedGeneration: 4 },
      ],
    },
  ]);
});

test('HTTPRoute on the waypoint Gateway: a backend in another namespace without a ReferenceGrant is RefNotPermitted; with one, ResolvedRefs is True; a Service parent needs none', (t) => {
  const wp = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint', namespace: 'bookinfo' };
  const reviews = { group: '', kind: 'Service', name: 'reviews', namespace: 'bookinfo' };
  const r: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'cross', namespace: 'sleep', generation: 5 },
    spec: { parentRefs: [wp, reviews], rules: [{ backendRefs: [{ name: 'reviews-v1', namespace: 'bookinfo', port: 9080 }] }] },
  };
  const inp = input({ httpRoutes: [r] });
  inp.namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sleep' } });
  (inp.gateways[0].spec.listeners![0] as { allowedRoutes?: unknown }).allowedRoutes = { namespaces: { from: 'All' } };
  const resolved = (i: MeshInput) => routeParentStatuses(r, i).map((p) => [p.parentRef.kind, p.conditions.find((c) => c.type === 'ResolvedRefs')] as const);
  const ok = { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved', observedGeneration: 5 };
  t.deepEqual(resolved(inp), [
    [
      'Gateway',
      {
        type: 'ResolvedRefs',
        status: 'False',
        reason: 'RefNotPermitted',
        message: 'backendRef Service bookinfo/reviews-v1 is not permitted: a ReferenceGrant in namespace bookinfo must allow HTTPRoutes from namespace sleep',
        observedGeneration: 5,
      },
    ],
    ['Service', ok],
  ]);
  // Accepted stays True: the route is valid, one of its references is not usable.
  t.like(routeParentStatuses(r, inp)[0].conditions[0], { type: 'Accepted', status: 'True' });
  const grant = (namespace: string, fromNs: string): KubeObject => ({
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name: 'from-sleep', namespace },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: fromNs }], to: [{ group: '', kind: 'Service' }] },
  });
  // A grant elsewhere, or from another namespace, changes nothing.
  t.is(resolved(input({ ...inp, referenceGrants: [grant('sleep', 'sleep'), grant('bookinfo', 'default')] }))[0]![1]?.reason, 'RefNotPermitted');
  t.deepEqual(resolved(input({ ...inp, referenceGrants: [grant('bookinfo', 'sleep')] })), [
    ['Gateway', ok],
    ['Service', ok],
  ]);
});
