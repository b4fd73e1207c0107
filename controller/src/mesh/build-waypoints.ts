// Per waypoint and ingress gateway, the WaypointConfig its runtime is pushed: who it is and what is bound to it
// (Services, workloads), the mesh it routes in (every workload and Service, with labels), the L7 objects that
// apply to it (./resources.ts), its tracing; and the ServiceAccount its pods must run as to be pushed it.
import type { MeshConfig, WaypointConfig, WaypointInfo, WaypointService, WaypointTrafficType, WaypointWorkload } from '@ambit/mesh-api';
import { trafficTypeOf } from '../gateway/binding.js';
import { scopedServiceAccount, waypointNames } from '../gateway/names.js';
import { buildIngressGatewayConfigs } from './ingress-gateway-api.js';
import { buildIngressIstio, INGRESS_SERVICE_ACCOUNT } from './ingress-istio.js';
import type { MeshInput, Pod } from './input.js';
import { nsName, type ModelSettings, type ModelWarning, type WaypointIdentity } from './model.js';
import { waypointResources, type WaypointScope } from './resources.js';
import { resolveTracing } from './tracing.js';
import { waypointAddress, type WaypointBinding } from './waypoint-binding.js';

export interface WaypointInputs {
  /** The ztunnels' mesh, sorted. */
  mesh: Required<Pick<MeshConfig, 'workloads' | 'services'>>;
  podOfUid: Map<string, Pod>;
  /** `ns/hostname` -> the Service's labels. */
  serviceLabels: Map<string, Record<string, string>>;
  /** Waypoint `ns/name` -> bound Services (`ns/name`) and workloads (uids). */
  boundServices: Map<string, string[]>;
  boundWorkloads: Map<string, string[]>;
}

export interface BuiltWaypoints {
  waypoints: Map<string, WaypointConfig>;
  identities: Map<string, WaypointIdentity>;
}

export function buildWaypoints(input: MeshInput, parts: WaypointInputs, binding: WaypointBinding, settings: Pick<ModelSettings, 'rootNamespace' | 'domain'>, warnings: ModelWarning[]): BuiltWaypoints {
  const { rootNamespace, domain } = settings;
  const out: BuiltWaypoints = { waypoints: new Map(), identities: new Map() };
  const workloads: WaypointWorkload[] = parts.mesh.workloads.map((w) => ({ ...w, labels: parts.podOfUid.get(w.uid)!.metadata.labels ?? {} }));
  const services: WaypointService[] = parts.mesh.services.map((s) => ({ ...s, labels: parts.serviceLabels.get(`${s.namespace}/${s.hostname}`) ?? {} }));
  const hostOf = new Map(parts.mesh.services.map((s) => [`${s.namespace}/${s.name}`, s.hostname]));
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
    if (!binding.isWaypointGateway(gw)) continue;
    const key = nsName(gw);
    const svcNames = [...(parts.boundServices.get(key) ?? [])].sort();
    const info: WaypointInfo = {
      name: gw.metadata.name!,
      namespace: gw.metadata.namespace!,
      gatewayClassName: gw.spec.gatewayClassName,
      trafficType: trafficTypeOf(gw, binding.classes.get(gw.spec.gatewayClassName)) as WaypointTrafficType,
      services: svcNames.map((n) => `${n.split('/')[0]}/${hostOf.get(n)}`),
      workloads: [...(parts.boundWorkloads.get(key) ?? [])].sort(),
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
    out.identities.set(key, { serviceAccount: waypointNames(gw).serviceAccount, ...(gw.metadata.uid ? { gatewayUid: gw.metadata.uid } : {}) });
    out.waypoints.set(key, { waypoint: info, workloads, services, resources: waypointResources(scope, resourceInput, { rootNamespace, domain }) });
  }
  // Ingress gateways (GatewayClass `istio`): the same config stream, `waypoint.role: 'ingress'`.
  for (const g of buildIngressGatewayConfigs(input, { workloads, services, rootNamespace })) {
    out.waypoints.set(g.key, g.config);
    out.identities.set(g.key, g.identity);
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
    meshWorkloads: workloads,
    meshServices: services,
    domain,
  });
  if (ingress) {
    const key = `${ingress.config.waypoint.namespace}/${ingress.config.waypoint.name}`;
    if (out.waypoints.has(key)) {
      warnings.push({ object: `Gateway ${key}`, reason: 'Conflict', message: `the installed ingress gateway ${key} has this name: its config is served instead` });
    }
    out.waypoints.set(key, ingress.config);
    out.identities.set(key, { serviceAccount: INGRESS_SERVICE_ACCOUNT, podLabels: ingress.podLabels });
    warnings.push(...ingress.warnings);
  }
  // Span export per waypoint and ingress gateway (Telemetry + the mesh config's extensionProviders).
  const tracing = resolveTracing(input, { rootNamespace, domain });
  for (const config of out.waypoints.values()) {
    const t = tracing.forWaypoint(config.waypoint.namespace, config.waypoint.name);
    if (t) config.tracing = t;
  }
  warnings.push(...tracing.warnings);
  return out;
}
