// The install manifests: every object is a kind `ambit install` can apply, images carry this release's tag, and the
// controller's ClusterRole covers what the waypoint controller does.
import test from 'ava';
import { manifests } from '../src/install/install.js';
import { VERSION } from '../src/install/version.js';
import { resourceFor, type KubeObject } from '../src/kube/resources.js';

const { objects, crds } = manifests();

test('manifests parse and every kind is applicable', (t) => {
  t.true(objects.length >= 8);
  for (const o of objects) t.truthy(resourceFor(o.apiVersion!, o.kind!), `${o.kind} ${o.metadata.name}`);
  t.is(objects[0].kind, 'Namespace');
  for (const c of crds) t.is(c.kind, 'CustomResourceDefinition');
});

test('images carry the release tag', (t) => {
  const images = objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .flatMap((o) => ((o.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers ?? []).map((c) => c.image));
  t.true(images.includes(`ambit/controller:${VERSION}`));
  for (const i of images.filter((i) => i.startsWith('ambit/'))) t.true(i.endsWith(`:${VERSION}`), i);
});

test('the controller ClusterRole allows what the waypoint controller does', (t) => {
  const role = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'istiod-istio-system') as KubeObject & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
  const covers = (pattern: string, resource: string) => pattern === resource || (pattern === '*' && !resource.includes('/')) || (pattern === '*/status' && resource.endsWith('/status'));
  const allows = (group: string, resource: string, verb: string) => role.rules.some((r) => r.apiGroups.includes(group) && r.resources.some((p) => covers(p, resource)) && r.verbs.includes(verb));
  for (const [g, r, v] of [
    ['gateway.networking.k8s.io', 'gateways', 'watch'],
    ['gateway.networking.k8s.io', 'gateways', 'patch'],
    ['gateway.networking.k8s.io', 'gateways/status', 'patch'],
    ['gateway.networking.k8s.io', 'gatewayclasses', 'create'],
    ['gateway.networking.k8s.io', 'gatewayclasses/status', 'patch'],
    ['apps', 'deployments', 'patch'],
    ['apps', 'deployments', 'delete'],
    ['', 'services', 'patch'],
    ['', 'services/status', 'patch'],
    ['', 'serviceaccounts', 'patch'],
    ['', 'namespaces', 'watch'],
    ['discovery.k8s.io', 'endpointslices', 'watch'],
    // The mesh model sends waypoints the ReferenceGrants their routes' cross-namespace backendRefs need.
    ['gateway.networking.k8s.io', 'referencegrants', 'watch'],
    // The mesh model finds WaypointPlugin's served version from its CRD.
    ['apiextensions.k8s.io', 'customresourcedefinitions', 'list'],
    // The status writer: policies, and WaypointPlugin Active from the waypoints' reports (server-side apply).
    ['extensions.ambit.dev', 'waypointplugins', 'watch'],
    ['extensions.ambit.dev', 'waypointplugins/status', 'patch'],
    ['security.istio.io', 'authorizationpolicies/status', 'patch'],
  ]) t.true(allows(g, r, v), `${v} ${r}.${g}`);
  // Least privilege: no wildcard verbs; cluster-wide secrets only listed and watched (ingress certificates), never
  // read one by one, created or changed.
  t.false(role.rules.some((r) => r.verbs.includes('*')));
  t.deepEqual(role.rules.filter((r) => r.resources.includes('secrets')).flatMap((r) => r.verbs).sort(), ['list', 'watch']);
});

/**
 * Every API call the controller's code makes, as `group resource verb` (where: the code that makes it); a
 * server-side apply is `patch`, and also `create` where it creates the object (the API server checks both). The
 * Roles must grant exactly these: a verb missing breaks the controller; a verb more is privilege nobody uses.
 */
const USED = {
  cluster: [
    'gateway.networking.k8s.io gateways get', // status/writer.ts: re-read before writing listener status
    'gateway.networking.k8s.io gateways list', // informers (gateway controller, mesh model)
    'gateway.networking.k8s.io gateways watch',
    'gateway.networking.k8s.io gateways patch', // gateway/controller.ts: controller-version annotation (apply)
    'gateway.networking.k8s.io gateways/status patch', // applyStatus
    'gateway.networking.k8s.io gateways/status update', // status/writer.ts: attached-route counts
    'gateway.networking.k8s.io gatewayclasses get', // gateway/controller.ts: after a create conflict
    'gateway.networking.k8s.io gatewayclasses list',
    'gateway.networking.k8s.io gatewayclasses watch',
    'gateway.networking.k8s.io gatewayclasses create', // built-in classes, create-only
    'gateway.networking.k8s.io gatewayclasses/status patch',
    'gateway.networking.k8s.io httproutes get', // kube/status.ts updateOwnRouteParents
    'gateway.networking.k8s.io httproutes list',
    'gateway.networking.k8s.io httproutes watch',
    'gateway.networking.k8s.io httproutes/status update',
    'gateway.networking.k8s.io grpcroutes get', // kube/status.ts updateOwnRouteParents
    'gateway.networking.k8s.io grpcroutes list', // mesh model
    'gateway.networking.k8s.io grpcroutes watch',
    'gateway.networking.k8s.io grpcroutes/status update',
    'gateway.networking.k8s.io tlsroutes get', // kube/status.ts updateOwnRouteParents
    'gateway.networking.k8s.io tlsroutes list', // mesh model: ingress TLS passthrough
    'gateway.networking.k8s.io tlsroutes watch',
    'gateway.networking.k8s.io tlsroutes/status update',
    'gateway.networking.k8s.io referencegrants list', // mesh model: cross-namespace backendRefs
    'gateway.networking.k8s.io referencegrants watch',
    'security.istio.io authorizationpolicies list',
    'security.istio.io authorizationpolicies watch',
    'security.istio.io authorizationpolicies/status patch', // status/writer.ts
    'security.istio.io peerauthentications list',
    'security.istio.io peerauthentications watch',
    'networking.istio.io virtualservices list',
    'networking.istio.io virtualservices watch',
    'networking.istio.io destinationrules list',
    'networking.istio.io destinationrules watch',
    'networking.istio.io gateways list', // mesh/watch.ts: the installed ingress gateway's servers
    'networking.istio.io gateways watch',
    'extensions.ambit.dev waypointplugins list',
    'extensions.ambit.dev waypointplugins watch',
    'telemetry.istio.io telemetries list', // mesh/watch.ts: which extensionProvider a waypoint traces to
    'telemetry.istio.io telemetries watch',
    'extensions.ambit.dev waypointplugins/status patch', // status/writer.ts: Active from waypoint reports
    'apiextensions.k8s.io customresourcedefinitions list', // mesh/watch.ts: which CRD serves WaypointPlugin
    'apps deployments get', // gateway/controller.ts existing()
    'apps deployments list',
    'apps deployments watch',
    'apps deployments create', // server-side apply of a new object is authorized as create
    'apps deployments patch',
    'apps deployments delete', // cleanupOrphans
    ' serviceaccounts get', // existing(); push/authorize.ts: the waypoint account's owner
    ' serviceaccounts list',
    ' serviceaccounts watch',
    ' serviceaccounts create',
    ' serviceaccounts patch',
    ' serviceaccounts delete',
    ' services list',
    ' services watch',
    ' services create',
    ' services patch',
    ' services delete',
    ' secrets list', // mesh/watch.ts: kubernetes.io/tls Secrets of class istio Gateways' listeners
    ' secrets watch',
    ' services/status patch', // istio.io/WaypointBound
    ' pods get', // ca/pods.ts: a pod the informer has not seen yet
    ' pods list',
    ' pods watch',
    ' namespaces list',
    ' namespaces watch',
    'discovery.k8s.io endpointslices list',
    'discovery.k8s.io endpointslices watch',
    ' configmaps list', // ca/root-publisher.ts
    ' configmaps watch',
    ' configmaps create',
    ' configmaps patch',
    'authentication.k8s.io tokenreviews create', // ca/auth.ts
  ],
  systemNamespace: [
    'coordination.k8s.io leases get', // kube/leader.ts
    'coordination.k8s.io leases create',
    'coordination.k8s.io leases update',
    ' secrets get', // ca/authority.ts: cacerts, istio-ca-secret (and re-reads for rotation)
    ' secrets create', // the self-signed root, once
    ' secrets list', // mesh/watch.ts: the ingress gateway's credentialName Secrets (system namespace only)
    ' secrets watch',
  ],
};

function grants(kind: 'ClusterRole' | 'Role'): string[] {
  const role = objects.find((o) => o.kind === kind && o.metadata.name === (kind === 'ClusterRole' ? 'istiod-istio-system' : 'istiod')) as KubeObject & {
    rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  };
  return role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g} ${res} ${v}`)))).sort();
}

test('the controller Roles grant exactly the verbs its code uses, no more, no less', (t) => {
  t.deepEqual(grants('ClusterRole'), [...USED.cluster].sort());
  t.deepEqual(grants('Role'), [...USED.systemNamespace].sort());
});
