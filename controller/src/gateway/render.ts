// Pure rendering of a waypoint Gateway into the objects that run it: ServiceAccount, Deployment, Service
// (Istio's `waypoint` template, section 1.3 of the reference). Input objects in, output objects out.
import { WAYPOINT_NODE_OPTIONS } from '@ambit/mesh-api/plumbing';
import type { KubeObject, OwnerReference } from '../kube/resources.js';
import { A, L, MANAGED_VALUE, PORT_HBONE, PORT_METRICS, PORT_STATUS } from './constants.js';
import { effectiveListeners } from './listeners.js';
import { waypointNames, type WaypointNames } from './names.js';
import type { Gateway } from './types.js';

export interface RenderContext {
  /** Image tag; the image is `ambit/waypoint:<version>` unless `image` is set. */
  version: string;
  image?: string;
  /** Control-plane revision (`istio.io/rev`), `default` when unset. */
  revision?: string;
  clusterDomain?: string;
  /** Namespace of the control plane (CA_ADDR points at istiod there). */
  istioNamespace?: string;
  network?: string;
  clusterId?: string;
  trustDomain?: string;
}

export interface Rendered {
  names: WaypointNames;
  serviceAccount: KubeObject;
  deployment: KubeObject;
  service: KubeObject;
}

/** Istio's IsManaged: not when spec.addresses asks for more than one address or for a hostname. */
export function isManaged(gw: Gateway): boolean {
  const addrs = gw.spec?.addresses ?? [];
  if (addrs.length > 1) return false;
  return !addrs.some((a) => a.type === 'Hostname');
}

/** The waypoint pod's terminationGracePeriodSeconds (Istio's waypoint template uses 2). */
const GRACE_SECONDS = 2;
const DROP_ANNOTATIONS = new Set([A.lastApplied, A.nameOverride, A.serviceAccount, A.controllerVersion]);

function infraLabels(gw: Gateway): Record<string, string> {
  const infra = gw.spec?.infrastructure?.labels;
  if (infra) return Object.fromEntries(Object.entries(infra).filter(([k]) => !k.startsWith('gateway.networking.k8s.io/')));
  return { ...(gw.metadata.labels ?? {}) };
}

function infraAnnotations(gw: Gateway): Record<string, string> {
  const src = gw.spec?.infrastructure?.annotations ?? gw.metadata.annotations ?? {};
  return Object.fromEntries(Object.entries(src).filter(([k]) => !DROP_ANNOTATIONS.has(k as never) && !(gw.spec?.infrastructure?.annotations && k.startsWith('gateway.networking.k8s.io/'))));
}

const sortKeys = (o: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export function ownerReference(gw: Gateway): OwnerReference {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: gw.metadata.name!, uid: gw.metadata.uid ?? '' };
}

/** Service ports: status-port first, then one per distinct listener port. */
export function servicePorts(gw: Gateway): Array<Record<string, unknown>> {
  const ports: Array<Record<string, unknown>> = [{ name: 'status-port', port: PORT_STATUS, protocol: 'TCP', appProtocol: 'tcp' }];
  const seen = new Set<number>([PORT_STATUS]);
  for (const l of effectiveListeners(gw)) {
    if (seen.has(l.port)) continue;
    seen.add(l.port);
    ports.push({ name: l.name.replace(/\./g, '-').slice(0, 63), port: l.port, protocol: 'TCP', appProtocol: l.protocol.toLowerCase() });
  }
  return ports;
}

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/**
 * Where a waypoint writes, each an emptyDir (the root file system stays read-only): the WaypointPlugin loader's
 * package versions (AMBIT_PLUGINS_DIR), npm's cache for `npm pack` / `npm install` of their dependencies
 * (npm_config_cache; without it npm writes to $HOME/.npm, which a uid without a home cannot), and temporary files
 * (TMPDIR: the tarballs the loader extracts).
 */
export const WAYPOINT_WRITABLE = [
  { volume: 'ambit-plugins', mountPath: '/var/lib/ambit/plugins', env: 'AMBIT_PLUGINS_DIR' },
  { volume: 'npm-cache', mountPath: '/var/lib/ambit/npm-cache', env: 'npm_config_cache' },
  { volume: 'tmp', mountPath: '/tmp', env: 'TMPDIR' },
] as const;

/** How an ingress (class `istio`) gateway's objects differ from a waypoint's (ingress-render.ts). */
export interface RenderVariant {
  names: WaypointNames;
  /** `gateway.istio.io/managed` value. */
  managed: string;
  /** Labels every object and the pods get (before the controller's own). */
  labels: Record<string, string>;
  serviceType: string;
  /** Pod-level securityContext. */
  podSecurityContext?: Record<string, unknown>;
  /** Omit the HBONE containerPort and the traffic-distribution annotation (an ingress is not a waypoint). */
  ingress: boolean;
}

export function renderWaypoint(gw: Gateway, ctx: RenderContext, variant?: RenderVariant): Rendered {
  const names = variant?.names ?? waypointNames(gw);
  const ns = gw.metadata.namespace!;
  const gwName = gw.metadata.name!;
  const domain = ctx.clusterDomain ?? 'cluster.local';
  const rev = ctx.revision || gw.metadata.labels?.[L.rev] || 'default';
  const istioNs = ctx.istioNamespace ?? 'istio-system';
  const labels = sortKeys({
    ...(variant?.labels ?? {}),
    ...infraLabels(gw),
    [L.gatewayName]: gwName,
    [L.gatewayClassName]: gw.spec.gatewayClassName,
    [L.managed]: variant?.managed ?? MANAGED_VALUE,
  });
  const annotations = sortKeys(infraAnnotations(gw));
  const meta = (name: string, extraAnnotations: Record<string, string> = {}) => ({
    name,
    namespace: ns,
    labels,
    annotations: sortKeys({ ...annotations, ...extraAnnotations }),
    ownerReferences: [ownerReference(gw)],
  });

  const serviceAccount: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(names.serviceAccount) };

  const podLabels = sortKeys({
    ...labels,
    [L.sidecarInject]: 'false',
    [L.dataplaneMode]: 'none',
    [L.canonicalName]: names.deployment,
    [L.canonicalRevision]: 'latest',
  });
  const podAnnotations = sortKeys({
    ...annotations,
    [L.rev]: rev,
    'prometheus.io/path': '/stats/prometheus',
    'prometheus.io/port': String(PORT_METRICS),
    'prometheus.io/scrape': 'true',
  });
  const istiod = `istiod${rev === 'default' ? '' : `-${rev}`}.${istioNs}.svc:15012`;
  const env: Array<Record<string, unknown>> = [
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('INSTANCE_IP', 'status.podIP'),
    fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldEnv('HOST_IP', 'status.hostIP'),
    fieldEnv('ISTIO_META_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldEnv('ISTIO_META_NODE_NAME', 'spec.nodeName'),
    { name: 'CA_ADDR', value: istiod },
    // The runtime drains within the pod's grace period (less the exit), never past the kubelet's SIGKILL.
    { name: 'TERMINATION_GRACE_PERIOD_SECONDS', value: String(GRACE_SECONDS) },
    // What waypoint-runtime reads: the config push stream (istiod's 15012) and which waypoint it is.
    { name: 'XDS_ADDRESS', value: istiod },
    { name: 'AMBIT_WAYPOINT', value: `${ns}/${gwName}` },
    { name: 'ISTIO_META_DNS_DOMAIN', value: `${ns}.svc.${domain}` },
    { name: 'ISTIO_META_CLUSTER_ID', value: ctx.clusterId ?? 'Kubernetes' },
    ...(ctx.network ? [{ name: 'ISTIO_META_NETWORK', value: ctx.network }] : []),
    { name: 'ISTIO_META_INTERCEPTION_MODE', value: 'REDIRECT' },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: names.deployment },
    { name: 'ISTIO_META_OWNER', value: `kubernetes://apis/apps/v1/namespaces/${ns}/deployments/${names.deployment}` },
    { name: 'ISTIO_META_MESH_ID', value: ctx.trustDomain ?? 'cluster.local' },
    ...(names.forServiceAccount ? [{ name: 'ISTIO_META_WAYPOINT_FOR_SERVICE_ACCOUNT', value: names.forServiceAccount }] : []),
    // The Gateway owner's consent to run other namespaces' WaypointPlugins (absent: only its own namespace's).
    ...(gw.metadata.annotations?.[A.pluginNamespaces]?.trim() ? [{ name: 'AMBIT_PLUGIN_NAMESPACES', value: gw.metadata.annotations[A.pluginNamespaces]!.trim() }] : []),
    ...WAYPOINT_WRITABLE.map((w) => ({ name: w.env, value: w.mountPath })),
    // npm would otherwise ask the registry for a newer npm on every run.
    { name: 'npm_config_update_notifier', value: 'false' },
    // V8's young generation capped, so the waypoint's RSS under load is its live heap, not 128 MB of new space.
    { name: 'NODE_OPTIONS', value: WAYPOINT_NODE_OPTIONS },
  ];
  const probe = (periodSeconds: number, failureThreshold: number, initialDelaySeconds: number) => ({
    httpGet: { path: '/healthz/ready', port: PORT_STATUS, scheme: 'HTTP' },
    ...(initialDelaySeconds ? { initialDelaySeconds } : {}),
    periodSeconds,
    failureThreshold,
    successThreshold: 1,
    timeoutSeconds: 1,
  });
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(names.deployment),
    spec: {
      selector: { matchLabels: { [L.gatewayName]: gwName } },
      template: {
        metadata: { labels: podLabels, annotations: podAnnotations },
        spec: {
          ...(variant?.podSecurityContext ? { securityContext: variant.podSecurityContext } : {}),
          serviceAccountName: names.serviceAccount,
          terminationGracePeriodSeconds: GRACE_SECONDS,
          containers: [
            {
              name: 'istio-proxy',
              image: ctx.image ?? `ambit/waypoint:${ctx.version}`,
              env,
              ports: [
                ...(variant?.ingress ? [] : [{ containerPort: PORT_HBONE, name: 'mesh', protocol: 'TCP' }]),
                { containerPort: PORT_METRICS, name: 'metrics', protocol: 'TCP' },
                { containerPort: PORT_STATUS, name: 'status-port', protocol: 'TCP' },
              ],
              readinessProbe: probe(15, 4, 0),
              startupProbe: probe(1, 30, 1),
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                privileged: false,
                readOnlyRootFilesystem: true,
                runAsGroup: 1337,
                runAsNonRoot: true,
                runAsUser: 1337,
              },
              volumeMounts: [
                { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
                { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
                { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
                { name: 'istio-data', mountPath: '/var/lib/istio/data' },
                ...WAYPOINT_WRITABLE.map((w) => ({ name: w.volume, mountPath: w.mountPath })),
              ],
            },
          ],
          volumes: [
            { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
            { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert', optional: true } },
            {
              name: 'istio-podinfo',
              downwardAPI: {
                items: [
                  { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                  { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
                ],
              },
            },
            { name: 'istio-data', emptyDir: {} },
            ...WAYPOINT_WRITABLE.map((w) => ({ name: w.volume, emptyDir: {} })),
          ],
        },
      },
    },
  };

  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(names.deployment, variant?.ingress ? {} : { [A.trafficDistribution]: 'PreferClose' }),
    spec: {
      ipFamilyPolicy: 'PreferDualStack',
      selector: { [L.gatewayName]: gwName },
      type: gw.metadata.annotations?.[A.serviceType] || variant?.serviceType || 'ClusterIP',
      ports: servicePorts(gw),
    },
  };
  return { names, serviceAccount, deployment, service };
}

