// The API resources the controller and CLI use, and their REST paths.

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const apiVersionOf = (rt: ResourceType): string => (rt.group ? `${rt.group}/${rt.version}` : rt.version);

export function resourcePath(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  let p = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  if (rt.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${rt.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

const rt = (group: string, version: string, plural: string, kind: string, namespaced = true): ResourceType => ({ group, version, plural, kind, namespaced });

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export const R = {
  namespace: rt('', 'v1', 'namespaces', 'Namespace', false),
  service: rt('', 'v1', 'services', 'Service'),
  serviceAccount: rt('', 'v1', 'serviceaccounts', 'ServiceAccount'),
  pod: rt('', 'v1', 'pods', 'Pod'),
  configMap: rt('', 'v1', 'configmaps', 'ConfigMap'),
  secret: rt('', 'v1', 'secrets', 'Secret'),
  event: rt('', 'v1', 'events', 'Event'),
  deployment: rt('apps', 'v1', 'deployments', 'Deployment'),
  daemonSet: rt('apps', 'v1', 'daemonsets', 'DaemonSet'),
  endpointSlice: rt('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
  lease: rt('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  clusterRole: rt('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  clusterRoleBinding: rt('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  role: rt('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  roleBinding: rt('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  crd: rt('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
  gateway: rt(GATEWAY_GROUP, 'v1', 'gateways', 'Gateway'),
  gatewayClass: rt(GATEWAY_GROUP, 'v1', 'gatewayclasses', 'GatewayClass', false),
  httpRoute: rt(GATEWAY_GROUP, 'v1', 'httproutes', 'HTTPRoute'),
  selfSubjectAccessReview: rt('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', false),
} as const;

const byKind = new Map<string, ResourceType>(Object.values(R).map((r) => [`${apiVersionOf(r)}/${r.kind}`, r]));

/** The resource type of a manifest object (apiVersion + kind), for the kinds this project applies. */
export function resourceFor(apiVersion: string, kind: string): ResourceType | undefined {
  const known = byKind.get(`${apiVersion}/${kind}`);
  if (known) return known;
  // Other versions of known kinds (e.g. gateway.networking.k8s.io/v1beta1 Gateway).
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  for (const r of Object.values(R)) if (r.group === group && r.kind === kind) return { ...r, version };
  return undefined;
}

// Minimal object shapes (the controller reads only what it needs; everything stays plain JSON).
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
  finalizers?: string[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface ObjectList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export const keyOf = (o: { metadata: ObjectMeta }): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name ?? '');

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
