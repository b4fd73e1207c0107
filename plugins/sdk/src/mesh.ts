// The read-only view of the mesh that plugins may depend on (token MESH_STATE). The views are the mesh model's
// own Workload/Service (`@ambit/mesh-api`, Istio's WDS) narrowed to what plugins read, so a runtime hands its own
// objects through; `InMemoryMeshState` answers from the model's one indexed store (`MeshStore`), the same store and
// endpoint rule the ztunnel uses.
import type { WaypointService, WaypointWorkload } from '@ambit/mesh-api';
import { loadBalanced, MeshStore, type MeshChange } from '@ambit/mesh-api/model';

/** A workload as plugins see it (the model's `Workload`; `labels`: the pod's, when the model carries them, otherwise see {@link workloadLabels}). */
export type WorkloadView = Pick<
  WaypointWorkload,
  | 'uid'
  | 'name'
  | 'namespace'
  | 'serviceAccount'
  | 'trustDomain'
  | 'workloadIps'
  | 'protocol'
  | 'workloadName'
  | 'canonicalName'
  | 'canonicalRevision'
  | 'labels'
  | 'status'
  | 'node'
  | 'clusterId'
  | 'services'
>;

/** A service port's declared application protocol (Istio's WDS `AppProtocol`, UNKNOWN left out). */
export type { AppProtocol } from '@ambit/mesh-api/model';

/**
 * A Service as plugins see it (the model's `Service`): `vips` are `network/ip`; `ports` service port -> target port
 * (0: resolved per endpoint); `appProtocols` the declared ones; `labels` the Kubernetes Service's, when the model
 * carries them; `waypoint` the waypoint it is bound to (traffic from outside the mesh, an ingress gateway, goes
 * there rather than to the endpoints); `loadBalancer.healthPolicy` AllowAll: Unhealthy endpoints are used too.
 */
export type ServiceView = Pick<WaypointService, 'name' | 'namespace' | 'hostname' | 'vips' | 'ports' | 'appProtocols' | 'subjectAltNames' | 'endpoints' | 'labels' | 'waypoint' | 'loadBalancer'>;

/** One concrete destination: a workload address and the port to reach the application on. */
export interface Endpoint {
  address: string;
  port: number;
  workload?: WorkloadView;
  /** HBONE: reached through the destination's ztunnel on :15008; TCP: plain. */
  protocol: 'TCP' | 'HBONE';
  /** SPIFFE identity expected from the endpoint (HBONE). */
  identity?: string;
  /**
   * HBONE only: where the CONNECT goes when it is not `address:15008` (a Service's waypoint); the CONNECT
   * authority stays `address:port` (the Service VIP and port).
   */
  via?: { address: string; port: number };
}

export interface MeshStateReader {
  /** Bumped on every change of the model. */
  readonly version: number;
  /**
   * Bumped when a Service is added, changed or removed (and on every whole replacement), not when only workloads
   * change: for caches built from Services alone (the route table; endpoints are chosen per request).
   */
  readonly servicesVersion: number;
  services(): Iterable<ServiceView>;
  workloads(): Iterable<WorkloadView>;
  serviceByHostname(hostname: string): ServiceView | undefined;
  serviceByName(namespace: string, name: string): ServiceView | undefined;
  /** By VIP (`ip`, without its network: the default one). */
  serviceByAddress(ip: string): ServiceView | undefined;
  workloadByUid(uid: string): WorkloadView | undefined;
  workloadByAddress(ip: string): WorkloadView | undefined;
  /** Healthy endpoints of `service` for service port `port`, with the target port resolved. */
  endpoints(service: ServiceView, port: number): Endpoint[];
}

/**
 * Labels of a workload: its `labels` when the model has them, else what Istio derives canonical names from
 * (`app` <- canonicalName, `version` <- canonicalRevision).
 */
export function workloadLabels(w: WorkloadView): Record<string, string> {
  if (w.labels) return w.labels;
  const out: Record<string, string> = {};
  if (w.canonicalName) out.app = w.canonicalName;
  if (w.canonicalRevision && w.canonicalRevision !== 'latest') out.version = w.canonicalRevision;
  return out;
}

export function spiffeId(w: Pick<WorkloadView, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return `spiffe://${w.trustDomain ?? 'cluster.local'}/ns/${w.namespace}/sa/${w.serviceAccount}`;
}

/**
 * An in-memory {@link MeshStateReader} on the model's one indexed store (`store`, which the runtime may also feed
 * with deltas). Addresses are looked up in the default network. Endpoints follow the store's rule (a Service's
 * workloads by their `services` maps plus its own inline `endpoints`; Unhealthy ones only when the Service's
 * health policy is AllowAll), resolved per service port and cached until the model changes. Used by the runtime and
 * the test kit.
 */
export class InMemoryMeshState implements MeshStateReader {
  version = 0;
  servicesVersion = 0;
  readonly store = new MeshStore();
  readonly #endpointCache = new Map<string, Endpoint[]>();

  constructor(model?: { services?: ServiceView[]; workloads?: WorkloadView[] }) {
    this.store.on('change', (ev: MeshChange) => {
      this.#endpointCache.clear();
      this.version++;
      if (ev.full || ev.services.length > 0) this.servicesVersion++;
    });
    if (model) this.replace(model);
  }

  replace(model: { services?: ServiceView[]; workloads?: WorkloadView[] }): void {
    this.store.applyFull({ services: model.services, workloads: model.workloads });
  }

  /** A pushed delta: `removals` by key (workload uid, `ns/hostname`), then `upserts` added or replaced. */
  applyDelta(upserts: { services?: ServiceView[]; workloads?: WorkloadView[] }, removals: { services?: string[]; workloads?: string[] } = {}): void {
    this.store.applyDelta({ services: upserts.services, workloads: upserts.workloads }, { services: removals.services, workloads: removals.workloads });
  }

  services(): Iterable<ServiceView> {
    return this.store.services.values();
  }
  workloads(): Iterable<WorkloadView> {
    return this.store.workloads.values();
  }
  serviceByHostname(hostname: string): ServiceView | undefined {
    return this.store.serviceByHostname(hostname);
  }
  serviceByName(namespace: string, name: string): ServiceView | undefined {
    return this.store.serviceByName(namespace, name);
  }
  serviceByAddress(ip: string): ServiceView | undefined {
    return this.store.serviceByAddress(ip);
  }
  workloadByUid(uid: string): WorkloadView | undefined {
    return this.store.workloads.get(uid);
  }
  workloadByAddress(ip: string): WorkloadView | undefined {
    return this.store.workloadByIp(ip);
  }

  endpoints(service: ServiceView, port: number): Endpoint[] {
    const key = `${service.namespace}/${service.hostname}:${port}`;
    const cached = this.#endpointCache.get(key);
    if (cached) return cached;
    const out: Endpoint[] = [];
    const declaredTarget = service.ports[String(port)];
    for (const ep of this.store.endpoints(service)) {
      if (!loadBalanced(service, ep)) continue;
      const w = ep.workload;
      const ip = w.workloadIps[0];
      if (!ip) continue;
      // As the ztunnel (and Istio): a port the Service does not map, or a named target port this pod lacks, is no
      // endpoint; sending to the service port instead would reach a port the Service never promised.
      const targetPort = ep.ports[String(port)] || declaredTarget;
      if (!targetPort) continue;
      out.push({ address: ip, port: targetPort, workload: w, protocol: w.protocol, identity: spiffeId(w) });
    }
    this.#endpointCache.set(key, out);
    return out;
  }
}
