// Which waypoint a Pod or a Service uses, and where ztunnels send its traffic: the use-waypoint labels resolved
// against the Gateways (../gateway/binding), with the legacy dialects' service-account-scoped waypoints first.
import type { GatewayAddress } from '@ambit/mesh-api';
import { getUseWaypoint, resolveServiceWaypoint, resolveWorkloadWaypoint, waypointOf, type ResolveContext, type Waypoint } from '../gateway/binding.js';
import { controllerFor, L, MANAGED_VALUE, MESH_CONTROLLER, PORT_HBONE } from '../gateway/constants.js';
import { scopedServiceAccount } from '../gateway/names.js';
import type { KubeObject } from '../kube/resources.js';
import type { Gateway, MeshInput, Pod, Service } from './input.js';
import { byKey, nsName, type ModelWarning } from './model.js';
import { podServiceAccount } from './workloads.js';

type GatewayClass = MeshInput['gatewayClasses'][number];

/** The address ztunnels send a waypoint's traffic to: its Hostname status address if any, else its first IP. */
export function waypointAddress(gw: Gateway): GatewayAddress | undefined {
  const addrs = gw.status?.addresses ?? [];
  const host = addrs.find((a) => a.type === 'Hostname');
  if (host) return { destination: `${gw.metadata.namespace}/${host.value}`, hboneMtlsPort: PORT_HBONE };
  const ip = addrs.find((a) => !a.type || a.type === 'IPAddress');
  return ip ? { destination: `/${ip.value}`, hboneMtlsPort: PORT_HBONE } : undefined;
}

/** A waypoint's own pods and Services never get a waypoint. */
export const isWaypointPod = (p: KubeObject): boolean => !!(p.metadata.labels?.[L.gatewayName] || p.metadata.labels?.[L.managed] === MANAGED_VALUE);

/** The Gateways, GatewayClasses and Namespaces a binding is resolved against, and the scoped waypoints. */
export class WaypointBinding {
  readonly ctx: ResolveContext;
  readonly classes: Map<string, GatewayClass>;
  /** Waypoints scoped to one service account (2022 `istio.io/service-account`, 1.18-1.21 `istio.io/for-service-account`), by `ns/sa`. */
  readonly scoped = new Map<string, Waypoint>();

  constructor(input: Pick<MeshInput, 'namespaces' | 'gateways' | 'gatewayClasses'>) {
    const namespaces = new Map(input.namespaces.map((n) => [n.metadata.name!, n]));
    const gateways = new Map(input.gateways.map((g) => [nsName(g), g]));
    this.classes = new Map(input.gatewayClasses.map((c) => [c.metadata.name!, c]));
    this.ctx = {
      namespace: (n) => namespaces.get(n),
      gateway: (ns, n) => gateways.get(`${ns}/${n}`),
      gatewayClass: (n) => this.classes.get(n),
    };
    // The oldest Gateway scoped to an account wins.
    for (const gw of [...input.gateways].sort(byKey((g) => `${g.metadata.creationTimestamp ?? ''}/${g.metadata.name}`))) {
      const sa = scopedServiceAccount(gw);
      if (!sa) continue;
      const w = waypointOf(this.ctx, { namespace: gw.metadata.namespace!, name: gw.metadata.name! });
      if (w && !this.scoped.has(`${w.namespace}/${sa}`)) this.scoped.set(`${w.namespace}/${sa}`, w);
    }
  }

  /** A Gateway this controller runs as a waypoint (its class's controllerName, or one of the built-in classes). */
  isWaypointGateway(gw: Gateway): boolean {
    return controllerFor(gw.spec?.gatewayClassName, this.classes.get(gw.spec?.gatewayClassName)) === MESH_CONTROLLER;
  }

  /** Pod label > service-account-scoped waypoint (legacy dialects) > namespace label; waypoint-for workload|all. */
  forPod(pod: Pod): Waypoint | undefined {
    if (isWaypointPod(pod)) return undefined;
    const own = getUseWaypoint(pod.metadata.labels, pod.metadata.namespace!);
    if (own.isNone) return undefined;
    if (own.ref) return resolveWorkloadWaypoint(this.ctx, pod).waypoint;
    return this.scoped.get(`${pod.metadata.namespace}/${podServiceAccount(pod)}`) ?? resolveWorkloadWaypoint(this.ctx, pod).waypoint;
  }

  /**
   * Service label > the waypoint scoped to the service account its endpoints run as (legacy dialects: traffic to a
   * Service whose endpoints run as that account goes through it) > namespace label; waypoint-for service|all.
   * A waypoint's own Service gets none.
   */
  forService(svc: Service, members: Pod[], warnings: ModelWarning[]): Waypoint | undefined {
    if (svc.metadata.labels?.[L.managed] === MANAGED_VALUE) return undefined;
    const own = getUseWaypoint(svc.metadata.labels, svc.metadata.namespace!);
    if (own.isNone) return undefined;
    if (!own.ref) {
      const accounts = [...new Set(members.map(podServiceAccount))].sort();
      for (const sa of accounts) {
        const w = this.scoped.get(`${svc.metadata.namespace}/${sa}`);
        if (w) return w;
      }
    }
    const r = resolveServiceWaypoint(this.ctx, svc);
    if (r.error) warnings.push({ object: `Service ${nsName(svc)}`, reason: r.error.reason, message: r.error.message });
    return r.waypoint;
  }
}
