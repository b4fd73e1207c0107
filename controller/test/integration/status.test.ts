// Status the controller writes on objects it does not own, against a real kube-apiserver: an AuthorizationPolicy
// with HTTP attributes gets Istio's UnsupportedValue, a GAMMA HTTPRoute to a Service without a waypoint gets the
// ResolvedWaypoints message, next to another controller's entry that stays; a rebuild writes nothing new.

import test from 'ava';
import { nullLogger } from '@ambit/mesh-api';
import { R, type Condition, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { MeshWatcher } from '../../src/mesh/watch.js';
import { MSG_MISSING_LABEL, StatusWriter } from '../../src/status/index.js';
import { eventually, getTestCluster, istioCrdFile, kubectl, type TestCluster } from './env.js';

const NS = 'status-it';
const AP: ResourceType = { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy', namespaced: true };
const HTTP_WARNING =
  'ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';

let cluster: TestCluster;
let mesh: MeshWatcher;
let writer: StatusWriter;

test.before(async () => {
  cluster = await getTestCluster();
  if (!(await cluster.client.getOrUndefined(R.crd, undefined, 'authorizationpolicies.security.istio.io'))) {
    const r = kubectl(cluster.kubeconfig, ['apply', '--server-side', '-f', istioCrdFile()]);
    if (r.status !== 0) throw new Error(`istio CRDs: ${r.stderr}`);
    const w = kubectl(cluster.kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/authorizationpolicies.security.istio.io']);
    if (w.status !== 0) throw new Error(`istio CRDs: ${w.stderr}`);
  }
  await cluster.client.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }).catch(() => {});
  await cluster.client.create(R.service, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ratings', namespace: NS }, spec: { selector: { app: 'ratings' }, ports: [{ port: 9080 }] } });
  await cluster.client.create(AP, {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'get-only', namespace: NS },
    spec: { selector: { matchLabels: { app: 'ratings' } }, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
  });
  const route = await cluster.client.create(R.httpRoute, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'ratings', namespace: NS },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ratings', port: 9080 }], rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }] }] },
  });
  // Another controller already reports on this route.
  const other = { parentRef: { name: 'ingress', namespace: NS }, controllerName: 'example.com/gateway-controller', conditions: [{ type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: 'not ours', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  await cluster.client.replace(R.httpRoute, { ...route, status: { parents: [other] } }, 'status');

  // A waypoint Gateway whose listener status the Gateway controller has written (attachedRoutes 0), and a route on it.
  const gw = await cluster.client.create(R.gateway, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: NS },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  const listenerStatus = { name: 'mesh', supportedKinds: [], attachedRoutes: 0, conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'No errors found', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  await cluster.client.replace(R.gateway, { ...gw, status: { listeners: [listenerStatus] } }, 'status');
  await cluster.client.create(R.httpRoute, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'all-traffic', namespace: NS },
    spec: { parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }], rules: [{ backendRefs: [{ name: 'missing', port: 9080 }] }] },
  });

  writer = new StatusWriter({ client: cluster.client, rootNamespace: 'istio-system', log: nullLogger });
  mesh = new MeshWatcher({ client: cluster.client, onModel: (m, i) => writer.update(m, i), debounceMs: 10 });
  await mesh.start();
});

test.after.always(async () => {
  await mesh?.stop();
  await writer?.stop();
  if (cluster) {
    await cluster.client.delete(R.namespace, undefined, NS).catch(() => {});
    await cluster.stop();
  }
});

test('an AuthorizationPolicy with HTTP attributes reports UnsupportedValue with observedGeneration', async (t) => {
  const cond = await eventually(async () => {
    const ap = await cluster.client.get<KubeObject & { status?: { conditions?: Condition[] } }>(AP, NS, 'get-only');
    return ap.status?.conditions?.find((c) => c.type === 'ZtunnelAccepted') && { ap, c: ap.status.conditions.find((c) => c.type === 'ZtunnelAccepted')! };
  }, 30_000, 'ZtunnelAccepted');
  t.like(cond.c, { status: 'False', reason: 'UnsupportedValue', message: HTTP_WARNING, observedGeneration: cond.ap.metadata.generation });
  t.truthy(cond.c.lastTransitionTime);
});

test('a GAMMA HTTPRoute to a Service without a waypoint says the route will not be respected; the other controller\'s entry stays', async (t) => {
  type Route = KubeObject & { status?: { parents?: Array<{ controllerName: string; parentRef: Record<string, unknown>; conditions: Condition[] }> } };
  const route = await eventually(async () => {
    const r = await cluster.client.get<Route>(R.httpRoute, NS, 'ratings');
    return r.status?.parents?.some((p) => p.controllerName === 'istio.io/mesh-controller') && r;
  }, 30_000, 'mesh-controller parent entry');
  const parents = route.status!.parents!;
  t.is(parents.length, 2);
  t.like(parents.find((p) => p.controllerName === 'example.com/gateway-controller'), { conditions: [{ type: 'Accepted', status: 'False', message: 'not ours' }] });
  const ours = parents.find((p) => p.controllerName === 'istio.io/mesh-controller')!;
  t.like(ours.parentRef, { kind: 'Service', name: 'ratings', port: 9080 });
  const byType = Object.fromEntries(ours.conditions.map((c) => [c.type, c]));
  t.like(byType.Accepted, { status: 'True', reason: 'Accepted', message: 'Route was valid', observedGeneration: route.metadata.generation });
  t.like(byType.ResolvedRefs, { status: 'True', reason: 'ResolvedRefs', message: 'All references resolved' });
  t.like(byType.ResolvedWaypoints, { status: 'True', message: MSG_MISSING_LABEL });

  // Once written, a rebuild from the (updated) caches writes nothing: no status loop.
  await eventually(async () => {
    mesh.rebuild();
    await writer.idle();
    const before = writer.writes;
    mesh.rebuild();
    await writer.idle();
    return writer.writes === before;
  }, 10_000, 'a rebuild without writes');
  const settled = await cluster.client.get<Route>(R.httpRoute, NS, 'ratings');
  mesh.rebuild();
  await writer.idle();
  const again = await cluster.client.get<Route>(R.httpRoute, NS, 'ratings');
  t.is(again.metadata.resourceVersion, settled.metadata.resourceVersion);
});

test('a route on the waypoint Gateway: its listener counts it, the route names the missing backend', async (t) => {
  type Gw = KubeObject & { status?: { listeners?: Array<{ name: string; attachedRoutes: number }> } };
  const gw = await eventually(async () => {
    const g = await cluster.client.get<Gw>(R.gateway, NS, 'waypoint');
    return g.status?.listeners?.[0]?.attachedRoutes === 1 && g;
  }, 30_000, 'attachedRoutes 1');
  t.is(gw.status!.listeners![0].name, 'mesh');
  const route = await eventually(async () => {
    const r = await cluster.client.get<KubeObject & { status?: { parents?: Array<{ controllerName: string; conditions: Condition[] }> } }>(R.httpRoute, NS, 'all-traffic');
    return (r.status?.parents?.length ?? 0) > 0 && r;
  }, 30_000, 'route status');
  const parent = route.status!.parents![0];
  t.is(parent.controllerName, 'istio.io/mesh-controller');
  t.like(parent.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound', message: `backend(s) not found: Service ${NS}/missing` });
  t.falsy(parent.conditions.find((c) => c.type === 'ResolvedWaypoints'));
});
