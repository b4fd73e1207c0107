// istio.io/use-waypoint resolution and the istio.io/WaypointBound Service condition.
import test from 'ava';
import { waypointBoundCondition, resolveWorkloadWaypoint, type Gateway, type GatewayClass, type Namespace, type ResolveContext } from '../src/gateway/index.js';
import type { KubeObject } from '../src/kube/resources.js';

function gw(ns: string, name: string, opts: { ready?: boolean; waypointFor?: string; from?: 'Same' | 'All' | 'Selector'; selector?: Record<string, string>; cls?: string } = {}): Gateway {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: ns, labels: opts.waypointFor ? { 'istio.io/waypoint-for': opts.waypointFor } : {} },
    spec: {
      gatewayClassName: opts.cls ?? 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE', allowedRoutes: opts.from ? { namespaces: { from: opts.from, selector: opts.selector ? { matchLabels: opts.selector } : undefined } } : undefined }],
    },
    status: opts.ready === false ? {} : { addresses: [{ type: 'Hostname', value: `${name}.${ns}.svc.cluster.local` }] },
  };
}

function ctx(gateways: Gateway[], namespaces: Namespace[] = [], classes: GatewayClass[] = []): ResolveContext {
  return {
    namespace: (n) => namespaces.find((x) => x.metadata.name === n),
    gateway: (ns, n) => gateways.find((g) => g.metadata.namespace === ns && g.metadata.name === n),
    gatewayClass: (n) => classes.find((c) => c.metadata.name === n),
  };
}

const svc = (ns: string, name: string, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels, generation: 2 } });
const nsObj = (name: string, labels: Record<string, string> = {}): Namespace => ({ metadata: { name, labels } });

test('service label binds to a ready waypoint', (t) => {
  const c = waypointBoundCondition(ctx([gw('default', 'waypoint')]), svc('default', 'productpage', { 'istio.io/use-waypoint': 'waypoint' }));
  t.deepEqual(c, { type: 'istio.io/WaypointBound', status: 'True', reason: 'WaypointAccepted', message: 'Successfully attached to waypoint default/waypoint', observedGeneration: 2 });
});

test('namespace label binds services in it', (t) => {
  const c = waypointBoundCondition(ctx([gw('default', 'waypoint')], [nsObj('default', { 'istio.io/use-waypoint': 'waypoint' })]), svc('default', 'reviews'));
  t.is(c?.status, 'True');
});

test('a use-waypoint label naming a missing waypoint reports WaypointIsNotReady', (t) => {
  const c = waypointBoundCondition(ctx([]), svc('default', 'productpage', { 'istio.io/use-waypoint': 'nope' }));
  t.is(c?.status, 'False');
  t.is(c?.reason, 'WaypointIsNotReady');
  t.is(c?.message, 'waypoint "default/nope" is not ready');
});

test('a waypoint without addresses is not ready', (t) => {
  const c = waypointBoundCondition(ctx([gw('default', 'waypoint', { ready: false })]), svc('default', 'p', { 'istio.io/use-waypoint': 'waypoint' }));
  t.is(c?.reason, 'WaypointIsNotReady');
});

test('cross-namespace binding needs allowedRoutes', (t) => {
  const labels = { 'istio.io/use-waypoint': 'shared', 'istio.io/use-waypoint-namespace': 'infra' };
  const denied = waypointBoundCondition(ctx([gw('infra', 'shared')]), svc('apps', 'p', labels));
  t.is(denied?.reason, 'AttachmentDenied');
  t.is(denied?.message, 'we are not permitted to attach to waypoint "infra/shared" (missing allowedRoutes?)');
  t.is(waypointBoundCondition(ctx([gw('infra', 'shared', { from: 'All' })]), svc('apps', 'p', labels))?.status, 'True');
  const sel = gw('infra', 'shared', { from: 'Selector', selector: { mesh: 'yes' } });
  t.is(waypointBoundCondition(ctx([sel], [nsObj('apps', { mesh: 'yes' })]), svc('apps', 'p', labels))?.status, 'True');
  t.is(waypointBoundCondition(ctx([sel], [nsObj('apps', {})]), svc('apps', 'p', labels))?.reason, 'AttachmentDenied');
});

test('a workload-only waypoint refuses service traffic', (t) => {
  const c = waypointBoundCondition(ctx([gw('default', 'w', { waypointFor: 'workload' })]), svc('default', 'p', { 'istio.io/use-waypoint': 'w' }));
  t.is(c?.reason, 'UnsupportedTrafficType');
  t.is(c?.message, 'attempting to bind to traffic type "service" which the waypoint "default/w" does not support');
});

test('traffic type comes from the GatewayClass label when the Gateway has none', (t) => {
  const cls: GatewayClass = { metadata: { name: 'istio-waypoint', labels: { 'istio.io/waypoint-for': 'none' } }, spec: { controllerName: 'istio.io/mesh-controller' } };
  t.is(waypointBoundCondition(ctx([gw('default', 'w')], [], [cls]), svc('default', 'p', { 'istio.io/use-waypoint': 'w' }))?.reason, 'UnsupportedTrafficType');
});

test('none opts out; the service label wins over the namespace label', (t) => {
  const c = ctx([gw('default', 'waypoint')], [nsObj('default', { 'istio.io/use-waypoint': 'waypoint' })]);
  t.is(waypointBoundCondition(c, svc('default', 'p', { 'istio.io/use-waypoint': 'none' })), undefined);
  t.is(waypointBoundCondition(c, svc('default', 'p', { 'istio.io/use-waypoint': 'other' }))?.reason, 'WaypointIsNotReady');
});

test('waypoint services never get a waypoint; unlabelled services get no condition', (t) => {
  const c = ctx([gw('default', 'waypoint')], [nsObj('default', { 'istio.io/use-waypoint': 'waypoint' })]);
  t.is(waypointBoundCondition(c, svc('default', 'waypoint', { 'gateway.istio.io/managed': 'istio.io-mesh-controller' })), undefined);
  t.is(waypointBoundCondition(ctx([gw('default', 'waypoint')]), svc('default', 'p')), undefined);
});

test('a Gateway of another controller is not a waypoint', (t) => {
  const cls: GatewayClass = { metadata: { name: 'nginx' }, spec: { controllerName: 'nginx.org/gateway-controller' } };
  t.is(waypointBoundCondition(ctx([gw('default', 'w', { cls: 'nginx' })], [], [cls]), svc('default', 'p', { 'istio.io/use-waypoint': 'w' }))?.reason, 'WaypointIsNotReady');
});

test('the 2022 class istio-mesh counts as a waypoint class', (t) => {
  t.is(waypointBoundCondition(ctx([gw('default', 'w', { cls: 'istio-mesh' })]), svc('default', 'p', { 'istio.io/use-waypoint': 'w' }))?.status, 'True');
});

test('workloads bind only to workload/all waypoints', (t) => {
  const pod: KubeObject = { metadata: { name: 'p', namespace: 'default', labels: { 'istio.io/use-waypoint': 'w' } } };
  t.is(resolveWorkloadWaypoint(ctx([gw('default', 'w')]), pod).error?.reason, 'UnsupportedTrafficType');
  t.truthy(resolveWorkloadWaypoint(ctx([gw('default', 'w', { waypointFor: 'all' })]), pod).waypoint);
});
