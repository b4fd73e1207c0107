import test from 'ava';
import type { MeshConfig, Service, Workload } from '@ambit/mesh-api';
import { buildMesh } from '../src/mesh/build.js';
import type { MeshInput, Pod } from '../src/mesh/input.js';
import { bookinfo, loadManifest, namespace, podsOf, waypointGateway, withClusterIp } from './mesh-fixtures.js';

const wl = (m: MeshConfig, name: string): Workload => m.workloads!.find((w) => w.name.startsWith(`${name}-`) || w.name === name)!;
const svc = (m: MeshConfig, name: string): Service => m.services!.find((s) => s.name === name)!;
const PP = 'default/productpage.default.svc.cluster.local';

test('bookinfo: workloads carry Istio uids, canonical names from app/version, HBONE when captured, services map', (t) => {
  const { mesh } = buildMesh(bookinfo());
  t.is(mesh.workloads!.length, 8);
  const reviews2 = wl(mesh, 'reviews-v2');
  t.like(reviews2, {
    uid: 'Kubernetes//Pod/default/reviews-v2-abc12-p0',
    namespace: 'default',
    serviceAccount: 'bookinfo-reviews',
    protocol: 'HBONE',
    node: 'node-1',
    workloadName: 'reviews-v2',
    workloadType: 'deployment',
    canonicalName: 'reviews',
    canonicalRevision: 'v2',
    status: 'Healthy',
    clusterId: 'Kubernetes',
  });
  t.deepEqual(reviews2.services, { 'default/reviews.default.svc.cluster.local': { 9080: 9080 } });
  t.is(reviews2.waypoint, undefined);
  t.deepEqual(wl(mesh, 'sleep').canonicalRevision, 'latest');
  // Not captured: plain TCP.
  t.is(wl(buildMesh(bookinfo({ ambient: false })).mesh, 'sleep').protocol, 'TCP');
});

test('bookinfo: services carry hostname, VIP, ports, endpoints and the SANs of their endpoints', (t) => {
  const { mesh } = buildMesh(bookinfo());
  const reviews = svc(mesh, 'reviews');
  t.is(reviews.hostname, 'reviews.default.svc.cluster.local');
  t.deepEqual(reviews.vips.length, 1);
  t.regex(reviews.vips[0]!, /^\/10\.96\.0\.\d+$/);
  t.deepEqual(reviews.ports, { 9080: 9080 });
  t.deepEqual(Object.keys(reviews.endpoints!).sort(), [1, 2, 3].map((v) => `Kubernetes//Pod/default/reviews-v${v}-abc12-p0`));
  t.deepEqual(Object.values(reviews.endpoints!)[0], { workloadUid: 'Kubernetes//Pod/default/reviews-v1-abc12-p0', port: { 9080: 9080 }, status: 'Healthy' });
  t.deepEqual(reviews.subjectAltNames, ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews']);
  t.deepEqual(svc(mesh, 'sleep').ports, { 80: 80 });
  t.is(svc(mesh, 'productpage').waypoint, undefined);
});

test('the L4 AuthorizationPolicy is converted and listed on the workloads it selects', (t) => {
  const input = bookinfo();
  input.authorizationPolicies = loadManifest('policies/productpage-viewer-l4.yaml');
  const { mesh } = buildMesh(input);
  t.deepEqual(mesh.policies, [
    {
      name: 'productpage-viewer',
      namespace: 'default',
      scope: 'WorkloadSelector',
      action: 'Allow',
      dryRun: false,
      rules: [[[{ principals: [{ Exact: 'cluster.local/ns/default/sa/sleep' }] }]]],
    },
  ]);
  t.deepEqual(wl(mesh, 'productpage-v1').authorizationPolicies, ['default/productpage-viewer']);
  t.is(wl(mesh, 'details-v1').authorizationPolicies, undefined);
});

test('2022 dialect: an istio-mesh Gateway scoped to a service account takes the traffic of that account\'s services and workloads', (t) => {
  const input = bookinfo();
  const gw = loadManifest('dialect-2022/waypoint-productpage.yaml')[0]!;
  // The controller programmed it: status.addresses point at its Service.
  input.gateways = [{ ...waypointGateway('productpage', { className: 'istio-mesh', serviceName: 'productpage-istio-waypoint' }), metadata: { ...gw.metadata, creationTimestamp: 'x' } }];
  input.authorizationPolicies = loadManifest('policies/productpage-viewer-l7.yaml');
  const { mesh, waypoints } = buildMesh(input);
  const expected = { destination: 'default/productpage-istio-waypoint.default.svc.cluster.local', hboneMtlsPort: 15008 };
  t.deepEqual(svc(mesh, 'productpage').waypoint, expected);
  t.deepEqual(wl(mesh, 'productpage-v1').waypoint, expected);
  t.is(svc(mesh, 'reviews').waypoint, undefined);
  t.is(wl(mesh, 'sleep').waypoint, undefined);
  // The targetRef policy goes to waypoints only, never to ztunnel.
  t.deepEqual(mesh.policies, []);
  const cfg = waypoints.get('default/productpage')!;
  t.like(cfg.waypoint, { name: 'productpage', namespace: 'default', gatewayClassName: 'istio-mesh', trafficType: 'service', forServiceAccount: 'bookinfo-productpage', address: expected });
  t.deepEqual(cfg.waypoint.services, [PP]);
  t.deepEqual(cfg.waypoint.workloads, ['Kubernetes//Pod/default/productpage-v1-abc12-p0']);
  // The policy names Gateway bookinfo-productpage, not this one ("productpage"), so it is not bound here.
  t.deepEqual(cfg.resources, []);
  t.is(cfg.workloads.length, 8);
  t.deepEqual(cfg.workloads.find((w) => w.name.startsWith('reviews-v3'))!.labels, { app: 'reviews', version: 'v3', 'pod-template-hash': 'abc12' });
});

test('2024 dialect: waypoint apply --service-account; the targetRef policy and the waypoint meet', (t) => {
  const input = bookinfo();
  input.gateways = [waypointGateway('bookinfo-productpage', { annotations: { 'istio.io/for-service-account': 'bookinfo-productpage' }, serviceName: 'bookinfo-productpage-istio-waypoint' })];
  input.authorizationPolicies = loadManifest('policies/productpage-viewer-l7.yaml');
  const { mesh, waypoints } = buildMesh(input);
  t.deepEqual(svc(mesh, 'productpage').waypoint, { destination: 'default/bookinfo-productpage-istio-waypoint.default.svc.cluster.local', hboneMtlsPort: 15008 });
  const cfg = waypoints.get('default/bookinfo-productpage')!;
  t.deepEqual(
    cfg.resources.map((r) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`),
    ['AuthorizationPolicy default/productpage-viewer'],
  );
  t.deepEqual((cfg.resources[0]!.spec as { rules: unknown[] }).rules.length, 1);
});

test('a waypoint without status.addresses binds nothing yet, but its config exists for its pods', (t) => {
  const input = bookinfo();
  input.gateways = [waypointGateway('bookinfo-productpage', { annotations: { 'istio.io/for-service-account': 'bookinfo-productpage' }, ready: false })];
  const { mesh, waypoints } = buildMesh(input);
  t.is(svc(mesh, 'productpage').waypoint, undefined);
  const cfg = waypoints.get('default/bookinfo-productpage')!;
  t.is(cfg.waypoint.address, undefined);
  t.deepEqual(cfg.waypoint.services, []);
});

test('today\'s dialect: istio.io/use-waypoint on the namespace binds services; the object label wins; none opts out', (t) => {
  const input = bookinfo();
  input.namespaces = [namespace('default', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' })];
  const other = waypointGateway('other', { address: '10.96.9.10' });
  input.gateways = [waypointGateway('waypoint'), other];
  const label = (name: string, v: string) => {
    const s = input.services.find((x) => x.metadata.name === name)!;
    s.metadata.labels = { ...s.metadata.labels, 'istio.io/use-waypoint': v };
  };
  label('details', 'other');
  label('ratings', 'none');
  const { mesh, waypoints, warnings } = buildMesh(input);
  const at = (n: string) => ({ destination: `default/${n}.default.svc.cluster.local`, hboneMtlsPort: 15008 });
  t.deepEqual(svc(mesh, 'productpage').waypoint, at('waypoint'));
  t.deepEqual(svc(mesh, 'details').waypoint, at('other'));
  t.is(svc(mesh, 'ratings').waypoint, undefined);
  // waypoint-for defaults to service: pods inherit nothing from the namespace label.
  t.is(wl(mesh, 'productpage-v1').waypoint, undefined);
  t.deepEqual(warnings, []);
  t.deepEqual(waypoints.get('default/waypoint')!.waypoint.services, [
    PP,
    'default/reviews.default.svc.cluster.local',
    'default/sleep.default.svc.cluster.local',
  ].sort());
});

test('waypoint-for workload binds pods (by pod label or namespace label), and a service label to it is refused with Istio\'s reason', (t) => {
  const input = bookinfo();
  input.gateways = [waypointGateway('wl-waypoint', { labels: { 'istio.io/waypoint-for': 'workload' } })];
  input.namespaces = [namespace('default', { 'istio.io/use-waypoint': 'wl-waypoint' })];
  const s = input.services.find((x) => x.metadata.name === 'details')!;
  s.metadata.labels = { ...s.metadata.labels, 'istio.io/use-waypoint': 'wl-waypoint' };
  const { mesh, warnings } = buildMesh(input);
  t.deepEqual(wl(mesh, 'sleep').waypoint, { destination: 'default/wl-waypoint.default.svc.cluster.local', hboneMtlsPort: 15008 });
  t.is(svc(mesh, 'details').waypoint, undefined);
  t.deepEqual(warnings.find((w) => w.object === 'Service default/details'), {
    object: 'Service default/details',
    reason: 'UnsupportedTrafficType',
    message: 'attempting to bind to traffic type "service" which the waypoint "default/wl-waypoint" does not support',
  });
});

test('a waypoint\'s own pods and Service never get a waypoint', (t) => {
  const input = bookinfo();
  input.namespaces = [namespace('default', { 'istio.io/use-waypoint': 'waypoint' })];
  input.gateways = [waypointGateway('waypoint', { labels: { 'istio.io/waypoint-for': 'all' } })];
  input.services.push(withClusterIp({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'waypoint', namespace: 'default', labels: { 'gateway.istio.io/managed': 'istio.io-mesh-controller' } }, spec: { selector: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }, ports: [{ port: 15008, name: 'mesh' }] } }));
  const wpDeploy = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'waypoint', namespace: 'default' }, spec: { template: { metadata: { labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } }, spec: { serviceAccountName: 'waypoint', containers: [] } } } };
  input.pods.push(...podsOf(wpDeploy, { ambient: false }));
  const { mesh } = buildMesh(input);
  t.is(svc(mesh, 'waypoint').waypoint, undefined);
  t.is(wl(mesh, 'waypoint').waypoint, undefined);
  t.truthy(wl(mesh, 'sleep').waypoint);
});

test('traffic control: VirtualService, DestinationRule and a GAMMA HTTPRoute reach the reviews waypoint', (t) => {
  const input = bookinfo();
  input.services.push(...loadManifest('bookinfo-versions.yaml').filter((o) => o.kind === 'Service').map(withClusterIp));
  input.gateways = [waypointGateway('bookinfo-reviews', { annotations: { 'istio.io/for-service-account': 'bookinfo-reviews' }, serviceName: 'bookinfo-reviews-istio-waypoint' })];
  input.virtualServices = loadManifest('istio-api/virtual-service-reviews-90-10.yaml');
  input.destinationRules = [...loadManifest('istio-api/destination-rule-reviews.yaml'), { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ratings', namespace: 'default' }, spec: { host: 'ratings' } }];
  input.httpRoutes = [...loadManifest('gateway-api/route-reviews-90-10.yaml'), { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'to-ratings', namespace: 'default' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ratings' }] } }];
  const { mesh, waypoints } = buildMesh(input);
  const cfg = waypoints.get('default/bookinfo-reviews')!;
  t.deepEqual(cfg.resources.map((r) => `${r.kind} ${r.metadata.name}`), ['DestinationRule reviews', 'HTTPRoute reviews', 'VirtualService reviews']);
  // reviews and its per-version Services all run as bookinfo-reviews: all bound.
  t.deepEqual(cfg.waypoint.services, ['reviews', 'reviews-v1', 'reviews-v2', 'reviews-v3'].map((n) => `default/${n}.default.svc.cluster.local`));
  t.truthy(svc(mesh, 'reviews-v2').waypoint);
  t.is(svc(mesh, 'ratings').waypoint, undefined);
  t.is(svc(mesh, 'productpage-v1').waypoint, undefined);
});

test('named target ports resolve per endpoint; selector-less Services take their endpoints from EndpointSlices', (t) => {
  const input: MeshInput = { pods: [], services: [], namespaces: [namespace('ns')], gateways: [], gatewayClasses: [] };
  const mk = (name: string, port: number, ip: string): Pod => ({
    metadata: { name, namespace: 'ns', labels: { app: 'web' } },
    spec: { serviceAccountName: 'web', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: port }] }] },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: name === 'b' ? 'False' : 'True' }] },
  });
  input.pods = [mk('a', 8080, '10.1.0.1'), mk('b', 9090, '10.1.0.2')];
  input.services = [
    { metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: '10.96.1.1', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }, { port: 53, protocol: 'UDP' }] } },
    { metadata: { name: 'manual', namespace: 'ns' }, spec: { clusterIP: 'None', ports: [{ port: 81, targetPort: 8081 }] } },
  ];
  input.endpointSlices = [{ metadata: { name: 'manual-x', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'manual' } }, endpoints: [{ addresses: ['10.1.0.1'], targetRef: { kind: 'Pod', name: 'a', namespace: 'ns' } }] }];
  const { mesh } = buildMesh(input);
  const web = svc(mesh, 'web');
  t.deepEqual(web.ports, { 80: 0 });
  t.deepEqual(web.endpoints, {
    'Kubernetes//Pod/ns/a': { workloadUid: 'Kubernetes//Pod/ns/a', port: { 80: 8080 }, status: 'Healthy' },
    'Kubernetes//Pod/ns/b': { workloadUid: 'Kubernetes//Pod/ns/b', port: { 80: 9090 }, status: 'Unhealthy' },
  });
  const manual = svc(mesh, 'manual');
  t.deepEqual(manual.vips, []);
  t.deepEqual(Object.keys(manual.endpoints!), ['Kubernetes//Pod/ns/a']);
  t.deepEqual(wl(mesh, 'a').services, { 'ns/web.ns.svc.cluster.local': { 80: 8080 }, 'ns/manual.ns.svc.cluster.local': { 81: 8081 } });
});

test('PeerAuthentication STRICT becomes the static deny-plaintext policy on the workloads it covers', (t) => {
  const input = bookinfo();
  input.namespaces.push(namespace('other'));
  input.pods.push({ metadata: { name: 'x', namespace: 'other', labels: {} }, spec: {}, status: { podIP: '10.2.0.1' } });
  input.peerAuthentications = [
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'default' }, spec: { mtls: { mode: 'STRICT' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'ratings-open', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'PERMISSIVE' } } },
  ];
  const { mesh } = buildMesh(input);
  t.deepEqual(wl(mesh, 'productpage-v1').authorizationPolicies, ['istio-system/istio_converted_static_strict']);
  t.is(wl(mesh, 'ratings-v1').authorizationPolicies, undefined);
  t.is(wl(mesh, 'x').authorizationPolicies, undefined);
  t.deepEqual(mesh.policies, [
    { name: 'istio_converted_static_strict', namespace: 'istio-system', scope: 'WorkloadSelector', action: 'Deny', dryRun: false, rules: [[[{ notPrincipals: [{ Presence: [] }] }]]] },
  ]);
  // Mesh-wide STRICT from the root namespace covers the other namespace too.
  input.peerAuthentications.push({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } });
  t.deepEqual(wl(buildMesh(input).mesh, 'x').authorizationPolicies, ['istio-system/istio_converted_static_strict']);
});

test('a root-namespace selector policy applies in every namespace; AUDIT is not sent and warns', (t) => {
  const input = bookinfo();
  input.authorizationPolicies = [
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-reviews-9999', namespace: 'istio-system' }, spec: { selector: { matchLabels: { app: 'reviews' } }, action: 'DENY', rules: [{ to: [{ operation: { ports: ['9999'] } }] }] } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'audit', namespace: 'default' }, spec: { action: 'AUDIT', rules: [{}] } },
  ];
  const { mesh, warnings } = buildMesh(input);
  t.deepEqual(wl(mesh, 'reviews-v1').authorizationPolicies, ['istio-system/deny-reviews-9999']);
  t.deepEqual(mesh.policies!.map((p) => `${p.namespace}/${p.name}`), ['istio-system/deny-reviews-9999']);
  t.deepEqual(warnings, [{ object: 'AuthorizationPolicy default/audit', reason: 'UnsupportedValue', message: 'ztunnel does not support the AUDIT action' }]);
});

test('the model is deterministic: same objects in any order give the same JSON', (t) => {
  const a = bookinfo();
  a.authorizationPolicies = loadManifest('policies/productpage-viewer-l4.yaml');
  const b: MeshInput = { ...a, pods: [...a.pods].reverse(), services: [...a.services].reverse() };
  t.is(JSON.stringify(buildMesh(a).mesh), JSON.stringify(buildMesh(b).mesh));
});

test("the root namespace's ambit-plugin-policy ConfigMap goes to every waypoint; a ConfigMap of that name elsewhere goes to none", (t) => {
  const input = bookinfo();
  input.gateways = [waypointGateway('waypoint'), waypointGateway('other', { namespace: 'team-b', address: '10.96.9.11' })];
  const cm = (namespace: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ambit-plugin-policy', namespace, resourceVersion: '7' }, data: { packages: '@acme/*', sources: 'https://registry.npmjs.org/' } });
  input.pluginPolicies = [cm('istio-system'), cm('default')];
  const { waypoints } = buildMesh(input);
  for (const key of ['default/waypoint', 'team-b/other']) {
    const sent = waypoints.get(key)!.resources.filter((r) => r.kind === 'ConfigMap');
    t.deepEqual(sent.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), ['istio-system/ambit-plugin-policy'], key);
    t.deepEqual((sent[0] as unknown as { data: unknown }).data, { packages: '@acme/*', sources: 'https://registry.npmjs.org/' });
  }
});

test('a route on the waypoint Gateway with a backend in another namespace: the ReferenceGrant allowing it reaches that waypoint, unrelated grants do not', (t) => {
  const input = bookinfo();
  input.gateways = [waypointGateway('waypoint'), waypointGateway('other', { namespace: 'team-b', address: '10.96.9.11' })];
  input.httpRoutes = [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'to-remote', namespace: 'default' },
      spec: { parentRefs: [{ name: 'waypoint' }], rules: [{ backendRefs: [{ name: 'echo', namespace: 'remote', port: 80 }] }] },
    },
  ];
  const grant = (name: string, namespace: string, fromNs: string, to: Record<string, string> = { group: '', kind: 'Service' }) => ({
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name, namespace, resourceVersion: '9' },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: fromNs }], to: [to] },
  });
  input.referenceGrants = [
    grant('allow-default', 'remote', 'default'),
    grant('allow-team-c', 'remote', 'team-c'), // from another namespace: not about this route
    grant('in-route-ns', 'default', 'remote'), // a grant in the route's own namespace grants nothing here
    grant('other-service', 'remote', 'default', { group: '', kind: 'Service', name: 'not-echo' }),
  ];
  const { waypoints } = buildMesh(input);
  const grants = (key: string) => waypoints.get(key)!.resources.filter((r) => r.kind === 'ReferenceGrant').map((r) => `${r.metadata.namespace}/${r.metadata.name}`);
  t.deepEqual(grants('default/waypoint'), ['remote/allow-default']);
  t.deepEqual(grants('team-b/other'), []);
  // Deleted: the waypoint's resources no longer hold it (the push server sends the changed set).
  input.referenceGrants = [];
  t.deepEqual(buildMesh(input).waypoints.get('default/waypoint')!.resources.filter((r) => r.kind === 'ReferenceGrant'), []);
});

test('a terminating pod (still Ready while it drains) is Unhealthy: no new connections are sent to it', (t) => {
  const input: MeshInput = { pods: [], services: [], namespaces: [namespace('ns')], gateways: [], gatewayClasses: [] };
  const mk = (name: string, ip: string, deleting: boolean): Pod => ({
    metadata: { name, namespace: 'ns', labels: { app: 'web' }, ...(deleting ? { deletionTimestamp: '2026-12-06T11:00:00Z' } : {}) },
    spec: { serviceAccountName: 'web', containers: [{ name: 'c' }] },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  });
  input.pods = [mk('old', '10.1.0.1', true), mk('new', '10.1.0.2', false)];
  input.services = [{ metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: '10.96.1.1', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } }];
  const { mesh } = buildMesh(input);
  t.is(wl(mesh, 'old').status, 'Unhealthy');
  t.is(wl(mesh, 'new').status, 'Healthy');
  t.is(svc(mesh, 'web').endpoints!['Kubernetes//Pod/ns/old']!.status, 'Unhealthy');
});
