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
    // The mesh model finds WaypointPlugin's served version from its CRD.
    ['apiextensions.k8s.io', 'customresourcedefinitions', 'list'],
    // The status writer: policies, and WaypointPlugin Active from the waypoints' reports (server-side apply).
    ['extensions.ambit.dev', 'waypointplugins', 'watch'],
    ['extensions.ambit.dev', 'waypointplugins/status', 'patch'],
    ['security.istio.io', 'authorizationpolicies/status', 'patch'],
  ]) t.true(allows(g, r, v), `${v} ${r}.${g}`);
  // Least privilege: no wildcard verbs, no secrets cluster-wide.
  t.false(role.rules.some((r) => r.verbs.includes('*')));
  t.false(role.rules.some((r) => r.resources.includes('secrets')));
});
