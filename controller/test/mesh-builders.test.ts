// Each of the mesh model's builders alone (controller/src/mesh/build-*.ts, pod-index.ts, waypoint-binding.ts), on
// small inputs; mesh.test.ts holds buildMesh, which composes them, to Bookinfo and the dialects end to end.
import test from 'ava';
import type { Workload } from '@ambit/mesh-api';
import { buildAuthorization } from '../src/mesh/build-authorization.js';
import { buildServices } from '../src/mesh/build-services.js';
import { buildWaypoints } from '../src/mesh/build-waypoints.js';
import { buildWorkloads } from '../src/mesh/build-workloads.js';
import { modelSettings } from '../src/mesh/build.js';
import type { MeshInput, Pod, Service } from '../src/mesh/input.js';
import type { ModelWarning } from '../src/mesh/model.js';
import { PodIndex } from '../src/mesh/pod-index.js';
import { WaypointBinding } from '../src/mesh/waypoint-binding.js';
import { namespace, waypointGateway } from './mesh-fixtures.js';

const settings = modelSettings();

function pod(name: string, ns: string, labels: Record<string, string>, extra: { ip?: string; sa?: string; ready?: boolean; annotations?: Record<string, string>; ports?: Array<{ name: string; containerPort: number }> } = {}): Pod {
  return {
    metadata: { name, namespace: ns, labels, annotations: extra.annotations ?? {} },
    spec: { serviceAccountName: extra.sa ?? name, nodeName: 'node-1', containers: [{ name: 'c', ports: extra.ports ?? [] }] },
    status: { podIP: extra.ip ?? '10.244.0.1', conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }] },
  };
}

function input(parts: Partial<MeshInput>): MeshInput {
  return { pods: [], services: [], namespaces: [namespace('default')], gateways: [], gatewayClasses: [], ...parts };
}

test('PodIndex: only modelled pods; a selector by its rarest label, all of the namespace for an empty one; Istio uids', (t) => {
  const a = pod('a', 'default', { app: 'web', tier: 'x' }, { ip: '10.244.0.1' });
  const b = pod('b', 'default', { app: 'web' }, { ip: '10.244.0.2' });
  const c = pod('c', 'other', { app: 'web' }, { ip: '10.244.0.3' });
  const noIp: Pod = { ...pod('d', 'default', { app: 'web' }), status: {} };
  const pods = new PodIndex([a, b, c, noIp], 'cluster1');
  t.deepEqual(pods.pods.map((p) => p.metadata.name), ['a', 'b', 'c']);
  t.deepEqual(pods.select('default', { app: 'web' }).map((p) => p.metadata.name), ['a', 'b']);
  t.deepEqual(pods.select('default', { app: 'web', tier: 'x' }).map((p) => p.metadata.name), ['a']);
  t.deepEqual(pods.select('default', { app: 'none' }), []);
  t.deepEqual(pods.select('other', {}).map((p) => p.metadata.name), ['c']);
  t.is(pods.byName('other', 'c'), c);
  t.is(pods.uidOf(a), 'cluster1//Pod/default/a');
  t.deepEqual(pods.namespaces().sort(), ['default', 'other']);
});

test('buildWorkloads: captured pods speak HBONE, unready ones are Unhealthy, and the namespace label binds a programmed waypoint', (t) => {
  const wp = waypointGateway('waypoint', { address: '10.96.9.9', labels: { 'istio.io/waypoint-for': 'all' } });
  const i = input({ namespaces: [namespace('default', { 'istio.io/use-waypoint': 'waypoint' })], gateways: [wp] });
  const captured = pod('app', 'default', { app: 'app', version: 'v2' }, { annotations: { 'ambient.istio.io/redirection': 'enabled' } });
  const idle = pod('idle', 'default', {}, { ready: false, ip: '10.244.0.2' });
  const own = pod('waypoint-0', 'default', { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }, { ip: '10.244.0.3' });
  const { workloads, bound, podOfUid } = buildWorkloads(new PodIndex([captured, idle, own], 'Kubernetes'), new WaypointBinding(i), settings);
  const app = workloads.get('Kubernetes//Pod/default/app')!;
  t.like(app, { protocol: 'HBONE', status: 'Healthy', serviceAccount: 'app', canonicalName: 'app', canonicalRevision: 'v2', node: 'node-1', clusterId: 'Kubernetes' });
  t.deepEqual(app.waypoint, { destination: 'default/waypoint.default.svc.cluster.local', hboneMtlsPort: 15008 });
  t.like(workloads.get('Kubernetes//Pod/default/idle'), { protocol: 'TCP', status: 'Unhealthy' });
  t.is(workloads.get('Kubernetes//Pod/default/waypoint-0')!.waypoint, undefined, "a waypoint's own pod gets none");
  t.deepEqual(bound.get('default/waypoint'), ['Kubernetes//Pod/default/app', 'Kubernetes//Pod/default/idle']);
  t.is(podOfUid.get('Kubernetes//Pod/default/app'), captured);
});

test('buildServices: endpoints by selector or EndpointSlice, named target ports per pod, SANs, and the workloads learn their Services', (t) => {
  const a = pod('a', 'default', { app: 'web' }, { ip: '10.244.0.1', sa: 'web', ports: [{ name: 'http', containerPort: 8080 }] });
  const b = pod('b', 'default', { app: 'web' }, { ip: '10.244.0.2', sa: 'web', ports: [{ name: 'http', containerPort: 9090 }] });
  const services: Service[] = [
    { metadata: { name: 'web', namespace: 'default', labels: { team: 'x' } }, spec: { clusterIP: '10.96.0.5', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http', appProtocol: 'http' }, { port: 53, protocol: 'UDP' }] } },
    { metadata: { name: 'manual', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ port: 81, targetPort: 8081 }] } },
    { metadata: { name: 'elsewhere', namespace: 'default' }, spec: { type: 'ExternalName', ports: [{ port: 80 }] } },
  ];
  const endpointSlices = [{ metadata: { name: 'manual-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'manual' } }, endpoints: [{ addresses: ['10.244.0.2'], targetRef: { kind: 'Pod', name: 'b' } }] }];
  const i = input({ pods: [a, b], services, endpointSlices });
  const pods = new PodIndex(i.pods, 'Kubernetes');
  const binding = new WaypointBinding(i);
  const { workloads } = buildWorkloads(pods, binding, settings);
  const warnings: ModelWarning[] = [];
  const out = buildServices(i, pods, workloads, binding, settings, warnings);
  t.deepEqual(out.services.map((s) => s.name), ['web', 'manual'], 'ExternalName Services are not modelled');
  const [web, manual] = out.services;
  t.like(web, { hostname: 'web.default.svc.cluster.local', vips: ['/10.96.0.5'], ports: { 80: 0 }, appProtocols: { 80: 'HTTP11' }, subjectAltNames: ['spiffe://cluster.local/ns/default/sa/web'] });
  t.deepEqual(web!.endpoints, {
    'Kubernetes//Pod/default/a': { workloadUid: 'Kubernetes//Pod/default/a', port: { 80: 8080 }, status: 'Healthy' },
    'Kubernetes//Pod/default/b': { workloadUid: 'Kubernetes//Pod/default/b', port: { 80: 9090 }, status: 'Healthy' },
  });
  t.deepEqual(Object.keys(manual!.endpoints!), ['Kubernetes//Pod/default/b']);
  t.deepEqual(workloads.get('Kubernetes//Pod/default/b')!.services, { 'default/web.default.svc.cluster.local': { 80: 9090 }, 'default/manual.default.svc.cluster.local': { 81: 8081 } });
  t.deepEqual(out.labels.get('default/web.default.svc.cluster.local'), { team: 'x' });
  t.deepEqual(warnings, []);
  t.is(out.bound.size, 0);
});

test('buildServices: a Service labelled for a waypoint that serves only workloads is refused with a warning naming it', (t) => {
  const wp = waypointGateway('wl-only', { labels: { 'istio.io/waypoint-for': 'workload' } });
  const svc: Service = { metadata: { name: 'web', namespace: 'default', labels: { 'istio.io/use-waypoint': 'wl-only' } }, spec: { clusterIP: '10.96.0.5', ports: [{ port: 80 }] } };
  const i = input({ services: [svc], gateways: [wp] });
  const pods = new PodIndex([], 'Kubernetes');
  const warnings: ModelWarning[] = [];
  const out = buildServices(i, pods, new Map(), new WaypointBinding(i), settings, warnings);
  t.is(out.services[0]!.waypoint, undefined);
  t.is(warnings.length, 1);
  t.is(warnings[0]!.object, 'Service default/web');
});

test('buildAuthorization: a selector policy is named on the workloads it selects (every namespace from the root one); PeerAuthentication STRICT adds the static policy', (t) => {
  const web = pod('web', 'default', { app: 'web' }, { ip: '10.244.0.1' });
  const other = pod('other', 'apps', { app: 'web' }, { ip: '10.244.0.2' });
  const db = pod('db', 'default', { app: 'db' }, { ip: '10.244.0.3' });
  const ap = (name: string, ns: string, app: string) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec: { selector: { matchLabels: { app } }, action: 'DENY' as const, rules: [{ to: [{ operation: { ports: ['9999'] } }] }] } });
  const i = input({
    pods: [web, other, db],
    authorizationPolicies: [ap('local', 'default', 'web'), ap('mesh-wide', 'istio-system', 'web')],
    peerAuthentications: [{ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'default' }, spec: { mtls: { mode: 'STRICT' } } }],
  });
  const pods = new PodIndex(i.pods, 'Kubernetes');
  const { workloads, podOfUid } = buildWorkloads(pods, new WaypointBinding(i), settings);
  const warnings: ModelWarning[] = [];
  const policies = buildAuthorization(i, pods, workloads, podOfUid, settings, warnings);
  const names = (w: Workload | undefined) => w?.authorizationPolicies;
  t.deepEqual(names(workloads.get('Kubernetes//Pod/default/web')), ['default/local', 'istio-system/istio_converted_static_strict', 'istio-system/mesh-wide']);
  t.deepEqual(names(workloads.get('Kubernetes//Pod/apps/other')), ['istio-system/mesh-wide']);
  t.deepEqual(names(workloads.get('Kubernetes//Pod/default/db')), ['istio-system/istio_converted_static_strict']);
  t.deepEqual(policies.map((p) => `${p.namespace}/${p.name}`).sort(), ['default/local', 'istio-system/istio_converted_static_strict', 'istio-system/mesh-wide']);
  t.deepEqual(warnings, []);
});

test('buildWaypoints: one config per waypoint Gateway with what is bound to it and the ServiceAccount its pods run as; other classes get none', (t) => {
  const wp = waypointGateway('waypoint');
  const other = { ...waypointGateway('edge'), spec: { gatewayClassName: 'someone-else', listeners: [] } };
  const i = input({ gateways: [wp, other], gatewayClasses: [{ metadata: { name: 'someone-else' }, spec: { controllerName: 'example.com/other' } }] });
  const mesh = {
    workloads: [{ uid: 'Kubernetes//Pod/default/a', name: 'a', namespace: 'default', serviceAccount: 'a', workloadIps: ['10.244.0.1'], protocol: 'HBONE' as const }],
    services: [{ name: 'web', namespace: 'default', hostname: 'web.default.svc.cluster.local', vips: ['/10.96.0.5'], ports: { 80: 8080 } }],
  };
  const podOfUid = new Map([['Kubernetes//Pod/default/a', pod('a', 'default', { app: 'a' })]]);
  const out = buildWaypoints(
    i,
    { mesh, podOfUid, serviceLabels: new Map([['default/web.default.svc.cluster.local', { team: 'x' }]]), boundServices: new Map([['default/waypoint', ['default/web']]]), boundWorkloads: new Map() },
    new WaypointBinding(i),
    settings,
    [],
  );
  t.deepEqual([...out.waypoints.keys()], ['default/waypoint']);
  const config = out.waypoints.get('default/waypoint')!;
  t.like(config.waypoint, { name: 'waypoint', namespace: 'default', gatewayClassName: 'istio-waypoint', services: ['default/web.default.svc.cluster.local'], workloads: [] });
  t.deepEqual(config.workloads.map((w) => w.labels), [{ app: 'a' }]);
  t.deepEqual(config.services.map((s) => s.labels), [{ team: 'x' }]);
  t.deepEqual(out.identities.get('default/waypoint'), { serviceAccount: 'waypoint' });
});
