// The mesh model builder: Kubernetes objects in, the model out (pure). What istiod's ambient index computes for
// WDS/RBAC: workloads (Pods), services (Services and their endpoints), authorization policies, waypoint bindings;
// plus, per waypoint Gateway, the WaypointConfig its runtime needs (the mesh and the L7 objects bound to it).

import type {
  AppProtocol,
  Authorization,
  GatewayAddress,
  MeshConfig,
  Service as ModelService,
  WaypointConfig,
  WaypointInfo,
  WaypointService,
  WaypointTrafficType,
  WaypointWorkload,
  Workload,
} from '@ambit/mesh-api';
import { getUseWaypoint, resolveServiceWaypoint, resolveWorkloadWaypoint, trafficTypeOf, waypointOf, type ResolveContext, type Waypoint } from '../gateway/binding.js';
import { CLASS_MESH, CLASS_WAYPOINT, L, MANAGED_VALUE, MESH_CONTROLLER, PORT_HBONE } from '../gateway/constants.js';
import { scopedServiceAccount, waypointNames } from '../gateway/render.js';
import type { KubeObject } from '../kube/resources.js';
import type { Gateway, MeshInput, MeshOptions, Pod, Service } from './input.js';
import { convertAuthorizationPolicy } from './authorization.js';
import { appProtocolOf } from './protocol.js';
import { buildIngressGatewayConfigs } from './ingress-gateway-api.js';
import { indexPeerAuthentications, matchLabels, type PeerAuthentication } from './policies.js';
import { waypointResources, type WaypointScope } from './resources.js';
import { resolveTracing } from './tracing.js';
import { buildIngressIstio, INGRESS_SERVICE_ACCOUNT } from './ingress-istio.js';
import { canonical, isModelledPod, namedPort, podIps, podReady, podServiceAccount, REDIRECTION_ANNOTATION, workloadNameAndType } from './workloads.js';

/** The ServiceAccount a waypoint Gateway's pods run as, and the Gateway's uid (the push stream's authorization). */
export interface WaypointIdentity {
  serviceAccount: string;
  gatewayUid?: string;
  /**
   * The installed ingress gateway (no Gateway owns it or its ServiceAccount): the labels its pods carry, which a
   * caller's pod must carry too.
   */
  podLabels?: Record<string, string>;
}

export interface ModelWarning {
  /** `Kind ns/name` of the object the warning is about. */
  object: string;
  reason: string;
  message: string;
}

export interface MeshModel {
  /** What every ztunnel receives. */
  mesh: MeshConfig;
  /** One config per waypoint Gateway, by `ns/name`. */
  waypoints: Map<string, WaypointConfig>;
  /** Conversion warnings (Istio reports them in the policy's status). */
  warnings: ModelWarning[];
  /** What each waypoint (`ns/name`) runs as: the config stream admits only that account's pods. */
  identities: Map<string, WaypointIdentity>;
}

const nsName = (o: KubeObject): string => `${o.metadata.namespace}/${o.metadata.name}`;
const byKey = <T>(key: (t: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/** The address ztunnels send a waypoint's traffic to: its Hostname status address if any, else its first IP. */
export function waypointAddress(gw: Gateway): GatewayAddress | undefined {
  const addrs = gw.status?.addresses ?? [];
  const host = addrs.find((a) => a.type === 'Hostname');
  if (host) return { destination: `${gw.metadata.namespace}/${host.value}`, hboneMtlsPort: PORT_HBONE };
  const ip = addrs.find((a) => !a.type || a.type === 'IPAddress');
  return ip ? { destination: `/${ip.value}`, hboneMtlsPort: PORT_HBONE } : undefined;
}

function isWaypointGateway(gw: Gateway, classes: Map<string, KubeObject & { spec?: { controllerName?: string } }>): boolean {
  const cls = classes.get(gw.spec?.gatewayClassName);
  const controller = cls?.spec?.controllerName ?? (gw.spec?.gatewayClassName === CLASS_MESH || gw.spec?.gatewayClassName === CLASS_WAYPOINT ? MESH_CONTROLLER : undefined);
  return controller === MESH_CONTROLLER;
}

/** A waypoint's own pods and Services never get a waypoint. */
const isWaypointPod = (p: KubeObject): boolean => !!(p.metadata.labels?.[L.gatewayName] || p.metadata.labels?.[L.managed] === MANAGED_VALUE);

export function buildMesh(input: MeshInput, opts: MeshOptions = {}): MeshModel {
  const clusterId = opts.clusterId ?? 'Kubernetes';
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const domain = opts.domainSuffix ?? 'cluster.local';
  const rootNamespace = opts.rootNamespace ?? 'istio-system';
  const warnings: ModelWarning[] = [];

  const namespaces = new Map(input.namespaces.map((n) => [n.metadata.name!, n]));
  const gateways = new Map(input.gateways.map((g) => [nsName(g), g]));
  const classes = new Map(input.gatewayClasses.map((c) => [c.metadata.name!, c]));
  const ctx: ResolveContext = {
    namespace: (n) => namespaces.get(n),
    gateway: (ns, n) => gateways.get(`${ns}/${n}`),
    gatewayClass: (n) => classes.get(n),
  };

  // Waypoints scoped to one service account (2022 `istio.io/service-account`, 1.18-1.21 `istio.io/for-service-account`).
  const scoped = new Map<string, Waypoint>();
  for (const gw of [...input.gateways].sort(byKey((g) => `${g.metadata.creationTimestamp ?? ''}/${g.metadata.name}`))) {
    const sa = scopedServiceAccount(gw);
    if (!sa) continue;
    const w = waypointOf(ctx, { namespace: gw.metadata.namespace!, name: gw.metadata.name! });
    if (w && !scoped.has(`${w.namespace}/${sa}`)) scoped.set(`${w.namespace}/${sa}`, w);
  }

  // ---- workloads -------------------------------------------------------------------------------------------
  const pods = input.pods.filter(isModelledPod);
  const podsByNs = new Map<string, Pod[]>();
  for (const p of pods) (podsByNs.get(p.metadata.namespace!) ?? podsByNs.set(p.metadata.namespace!, []).get(p.metadata.namespace!)!).push(p);
  // Selector matching without scanning a namespace per Service: candidates by one `key=value` of the selector.
  const byLabel = new Map<string, Pod[]>();
  for (const p of pods)
    for (const [k, v] of Object.entries(p.metadata.labels ?? {})) {
      const key = `${p.metadata.namespace}\u0000${k}=${v}`;
      (byLabel.get(key) ?? byLabel.set(key, []).get(key)!).push(p);
    }
  const selectPods = (ns: string, sel: Record<string, string>): Pod[] => {
    const entries = Object.entries(sel);
    if (!entries.length) return podsByNs.get(ns) ?? [];
    let best: Pod[] | undefined;
    for (const [k, v] of entries) {
      const c = byLabel.get(`${ns}\u0000${k}=${v}`) ?? [];
      if (!best || c.length < best.length) best = c;
    }
    return best!.filter((p) => matchLabels(sel, p.metadata.labels ?? {}));
  };
  const uidOf = (p: KubeObject) => `${clusterId}//Pod/${p.metadata.namespace}/${p.metadata.name}`;
  const workloads = new Map<string, Workload>();
  const podOfUid = new Map<string, Pod>();
  const boundWorkloads = new Map<string, string[]>(); // waypoint ns/name -> uids
  for (const p of pods) {
    const { name: workloadName, type } = workloadNameAndType(p);
    const c = canonical(p.metadata.labels, workloadName);
    const ns = p.metadata.namespace!;
    const sa = podServiceAccount(p);
    const w: Workload = {
      uid: uidOf(p),
      name: p.metadata.name!,
      namespace: ns,
      serviceAccount: sa,
      workloadIps: podIps(p),
      protocol: p.metadata.annotations?.[REDIRECTION_ANNOTATION] === 'enabled' ? 'HBONE' : 'TCP',
      workloadName,
      workloadType: type,
      canonicalName: c.name,
      canonicalRevision: c.revision,
      // A terminating pod is no longer chosen for new connections (its open ones finish), as an EndpointSlice
      // marks it not ready: a waypoint or app pod rolled under load gets no new work while it drains.
      status: podReady(p) && !p.metadata.deletionTimestamp ? 'Healthy' : 'Unhealthy',
      clusterId,
    };
    if (trustDomain !== 'cluster.local') w.trustDomain = trustDomain;
    if (p.spec?.nodeName) w.node = p.spec.nodeName;
    const wp = isWaypointPod(p) ? undefined : workloadWaypoint(ctx, p, scoped.get(`${ns}/${sa}`));
    if (wp) {
      const addr = waypointAddress(wp.gateway);
      if (addr) {
        w.waypoint = addr;
        const k = `${wp.namespace}/${wp.name}`;
        (boundWorkloads.get(k) ?? boundWorkloads.set(k, []).get(k)!).push(w.uid);
      }
    }
    workloads.set(w.uid, w);
    podOfUid.set(w.uid, p);
  }

  // ---- services --------------------------------------------------------------------------------------------
  const slicesBySvc = new Map<string, NonNullable<MeshInput['endpointSlices']>>();
  for (const s of input.endpointSlices ?? []) {
    const svc = s.metadata.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const k = `${s.metadata.namespace}/${svc}`;
    (slicesBySvc.get(k) ?? slicesBySvc.set(k, []).get(k)!).push(s);
  }
  const podByNsName = new Map(pods.map((p) => [nsName(p), p]));
  const services: ModelService[] = [];
  const serviceLabels = new Map<string, Record<string, string>>();
  const boundServices = new Map<string, string[]>(); // waypoint ns/name -> svc ns/name
  for (const svc of input.services) {
    if (svc.spec?.type === 'ExternalName') continue;
    const ns = svc.metadata.namespace!;
    const hostname = `${svc.metadata.name}.${ns}.svc.${domain}`;
    const key = `${ns}/${hostname}`;
    const ips = (svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
    const ports: Record<string, number> = {};
    const appProtocols: Record<string, AppProtocol> = {};
    for (const sp of svc.spec?.ports ?? []) {
      if (sp.protocol && sp.protocol !== 'TCP') continue;
      ports[String(sp.port)] = typeof sp.targetPort === 'number' ? sp.targetPort : sp.targetPort === undefined ? sp.port : /^\d+$/.test(sp.targetPort) ? Number(sp.targetPort) : 0;
      const proto = appProtocolOf(sp);
      if (proto) appProtocols[String(sp.port)] = proto;
    }
    // Endpoints: pods selected by the Service's selector; selector-less Services via EndpointSlices to Pods.
    let members: Pod[];
    if (svc.spec?.selector && Object.keys(svc.spec.selector).length) {
      members = selectPods(ns, svc.spec.selector);
    } else {
      const seen = new Set<string>();
      members = [];
      for (const s of slicesBySvc.get(`${ns}/${svc.metadata.name}`) ?? [])
        for (const e of s.endpoints ?? []) {
          const t = e.targetRef;
          if (t?.kind !== 'Pod' || !t.name) continue;
          const p = podByNsName.get(`${t.namespace ?? ns}/${t.name}`);
          if (p && !seen.has(nsName(p))) {
            seen.add(nsName(p));
            members.push(p);
          }
        }
    }
    const endpoints: NonNullable<ModelService['endpoints']> = {};
    const sans = new Set<string>();
    for (const p of members.sort(byKey(nsName))) {
      const uid = uidOf(p);
      const w = workloads.get(uid)!;
      const portMap: Record<string, number> = {};
      for (const sp of svc.spec?.ports ?? []) {
        if (sp.protocol && sp.protocol !== 'TCP') continue;
        const declared = ports[String(sp.port)]!;
        const target = declared || (typeof sp.targetPort === 'string' ? namedPort(p, sp.targetPort) : undefined);
        if (target) portMap[String(sp.port)] = target;
      }
      endpoints[uid] = { workloadUid: uid, port: portMap, status: w.status ?? 'Healthy' };
      (w.services ??= {})[key] = portMap;
      sans.add(`spiffe://${trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`);
    }
    const out: ModelService = { name: svc.metadata.name!, namespace: ns, hostname, vips: ips.map((ip) => `/${ip}`), ports, endpoints };
    if (Object.keys(appProtocols).length) out.appProtocols = appProtocols;
    if (sans.size) out.subjectAltNames = [...sans].sort();
    const wp = svc.metadata.labels?.[L.managed] === MANAGED_VALUE ? undefined : serviceWaypoint(ctx, svc, members, scoped, warnings);
    if (wp) {
      const addr = waypointAddress(wp.gateway);
      if (addr) {
        out.waypoint = addr;
        const k = `${wp.namespace}/${wp.name}`;
        (boundServices.get(k) ?? boundServices.set(k, []).get(k)!).push(nsName(svc));
      }
    }
    services.push(out);
    serviceLabels.set(key, svc.metadata.labels ?? {});
  }

  // ---- policies --------------------------------------------------------------------------------------------
  const policies: Authorization[] = [];
  for (const ap of input.authorizationPolicies ?? []) {
    const res = convertAuthorizationPolicy(ap, { rootNamespace, ...(opts.enableDryRun ? { enableDryRun: true } : {}) });
    for (const w of res.warnings) warnings.push({ object: `AuthorizationPolicy ${nsName(ap)}`, ...w });
    if (!res.authorization) continue;
    policies.push(res.authorization);
    if (res.authorization.scope !== 'WorkloadSelector') continue;
    const sel = ap.spec?.selector?.matchLabels ?? {};
    const key = nsName(ap);
    const selected = ap.metadata.namespace === rootNamespace ? [...podsByNs.keys()].flatMap((ns) => selectPods(ns, sel)) : selectPods(ap.metadata.namespace!, sel);
    for (const p of selected) (workloads.get(uidOf(p))!.authorizationPolicies ??= []).push(key);
  }
  const peer = indexPeerAuthentications((input.peerAuthentications ?? []) as PeerAuthentication[], rootNamespace);
  for (const [uid, w] of workloads) {
    const extra = peer.policiesFor(w.namespace, podOfUid.get(uid)!.metadata.labels ?? {});
    if (extra.length) (w.authorizationPolicies ??= []).push(...extra);
    w.authorizationPolicies?.sort();
  }
  policies.push(...peer.generated());

  const mesh: MeshConfig = {
    workloads: [...workloads.values()].sort(byKey((w) => w.uid)),
    services: services.sort(byKey((s) => `${s.namespace}/${s.hostname}`)),
    policies: policies.sort(byKey((p) => `${p.namespace}/${p.name}`)),
  };

  // ---- waypoints -------------------------------------------------------------------------------------------
  const waypoints = new Map<string, WaypointConfig>();
  const identities = new Map<string, WaypointIdentity>();
  const wpWorkloads: WaypointWorkload[] = mesh.workloads!.map((w) => ({ ...w, labels: podOfUid.get(w.uid)!.metadata.labels ?? {} }));
  const wpServices: WaypointService[] = mesh.services!.map((s) => ({ ...s, labels: serviceLabels.get(`${s.namespace}/${s.hostname}`) ?? {} }));
  const hostOf = new Map(mesh.services!.map((s) => [`${s.namespace}/${s.name}`, s.hostname]));
  const resourceInput = {
    authorizationPolicies: input.authorizationPolicies ?? [],
    httpRoutes: input.httpRoutes ?? [],
    grpcRoutes: input.grpcRoutes ?? [],
    virtualServices: input.virtualServices ?? [],
    destinationRules: input.destinationRules ?? [],
    waypointPlugins: input.waypointPlugins ?? [],
    pluginPolicies: input.pluginPolicies ?? [],
    referenceGrants: input.referenceGrants ?? [],
  };
  for (const gw of input.gateways) {
    if (!isWaypointGateway(gw, classes)) continue;
    const key = nsName(gw);
    const svcNames = (boundServices.get(key) ?? []).sort();
    const info: WaypointInfo = {
      name: gw.metadata.name!,
      namespace: gw.metadata.namespace!,
      gatewayClassName: gw.spec.gatewayClassName,
      trafficType: trafficTypeOf(gw, classes.get(gw.spec.gatewayClassName)) as WaypointTrafficType,
      services: svcNames.map((n) => `${n.split('/')[0]}/${hostOf.get(n)}`),
      workloads: (boundWorkloads.get(key) ?? []).sort(),
    };
    const forSa = scopedServiceAccount(gw);
    if (forSa) info.forServiceAccount = forSa;
    const addr = waypointAddress(gw);
    if (addr) info.address = addr;
    const scope: WaypointScope = {
      namespace: info.namespace,
      name: info.name,
      gatewayClassName: info.gatewayClassName,
      services: new Set(svcNames),
      hostnames: new Set(svcNames.map((n) => hostOf.get(n)!)),
    };
    identities.set(key, { serviceAccount: waypointNames(gw).serviceAccount, ...(gw.metadata.uid ? { gatewayUid: gw.metadata.uid } : {}) });
    waypoints.set(key, {
      waypoint: info,
      workloads: wpWorkloads,
      services: wpServices,
      resources: waypointResources(scope, resourceInput, { rootNamespace, domain }),
    });
  }
  // Ingress gateways (GatewayClass `istio`): the same config stream, `waypoint.role: 'ingress'`.
  for (const g of buildIngressGatewayConfigs(input, { workloads: wpWorkloads, services: wpServices, rootNamespace })) {
    waypoints.set(g.key, g.config);
    identities.set(g.key, g.identity);
  }
  // The Istio API's ingress gateway (installed by `ambit install`), configured by networking.istio.io Gateways.
  const ingress = buildIngressIstio({
    namespace: rootNamespace,
    pods: input.pods,
    services: input.services,
    istioGateways: input.istioGateways ?? [],
    virtualServices: input.virtualServices ?? [],
    destinationRules: input.destinationRules ?? [],
    secrets: input.systemSecrets ?? [],
    pluginPolicies: input.pluginPolicies ?? [],
    meshWorkloads: wpWorkloads,
    meshServices: wpServices,
    domain,
  });
  if (ingress) {
    const key = `${ingress.config.waypoint.namespace}/${ingress.config.waypoint.name}`;
    if (waypoints.has(key)) {
      warnings.push({ object: `Gateway ${key}`, reason: 'Conflict', message: `the installed ingress gateway ${key} has this name: its config is served instead` });
    }
    waypoints.set(key, ingress.config);
    identities.set(key, { serviceAccount: INGRESS_SERVICE_ACCOUNT, podLabels: ingress.podLabels });
    warnings.push(...ingress.warnings);
  }
  // Span export per waypoint and ingress gateway (Telemetry + the mesh config's extensionProviders).
  const tracing = resolveTracing(input, { rootNamespace, domain });
  for (const config of waypoints.values()) {
    const t = tracing.forWaypoint(config.waypoint.namespace, config.waypoint.name);
    if (t) config.tracing = t;
  }
  warnings.push(...tracing.warnings);
  return { mesh, waypoints, warnings, identities };
}

/** Pod label > service-account-scoped waypoint (legacy dialects) > namespace label; waypoint-for workload|all. */
function workloadWaypoint(ctx: ResolveContext, pod: Pod, scopedWp: Waypoint | undefined): Waypoint | undefined {
  const own = getUseWaypoint(pod.metadata.labels, pod.metadata.namespace!);
  if (own.isNone) return undefined;
  if (own.ref) return resolveWorkloadWaypoint(ctx, pod).waypoint;
  if (scopedWp) return scopedWp;
  return resolveWorkloadWaypoint(ctx, pod).waypoint;
}

/**
 * Service label > the waypoint scoped to the service account its endpoints run as (legacy dialects: traffic to a
 * Service whose endpoints run as that account goes through it) > namespace label; waypoint-for service|all.
 */
function serviceWaypoint(ctx: ResolveContext, svc: Service, members: Pod[], scoped: Map<string, Waypoint>, warnings: ModelWarning[]): Waypoint | undefined {
  const own = getUseWaypoint(svc.metadata.labels, svc.metadata.namespace!);
  if (own.isNone) return undefined;
  if (!own.ref) {
    const accounts = [...new Set(members.map(podServiceAccount))].sort();
    for (const sa of accounts) {
      const w = scoped.get(`${svc.metadata.namespace}/${sa}`);
      if (w) return w;
    }
  }
  const r = resolveServiceWaypoint(ctx, svc);
  if (r.error) warnings.push({ object: `Service ${nsName(svc)}`, reason: r.error.reason, message: r.error.message });
  return r.waypoint;
}
