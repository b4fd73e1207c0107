// The read-only view of the mesh that plugins may depend on (token MESH_STATE). The shapes are structural
// subsets of the mesh model (`@ambit/mesh-api` Workload/Service, Istio's WDS), so a runtime can hand its
// own objects through, and plugin authors do not depend on the runtime.

export interface WorkloadView {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  trustDomain?: string;
  workloadIps: string[];
  protocol: 'TCP' | 'HBONE';
  workloadName?: string;
  canonicalName?: string;
  canonicalRevision?: string;
  /** Pod labels, when the model carries them; otherwise see {@link workloadLabels}. */
  labels?: Record<string, string>;
  status?: 'Healthy' | 'Unhealthy';
  node?: string;
  clusterId?: string;
  /** `ns/hostname` -> service port -> target port. */
  services?: Record<string, Record<string, number>>;
}

/** A service port's declared application protocol (Istio's WDS `AppProtocol`, UNKNOWN left out). */
export type AppProtocol = 'HTTP11' | 'HTTP2' | 'GRPC';

export interface ServiceView {
  name: string;
  namespace: string;
  hostname: string;
  /** `network/ip`. */
  vips: string[];
  /** service port -> target port (0: resolved per endpoint). */
  ports: Record<string, number>;
  /** service port -> declared application protocol (Istio's WDS `app_protocol`); undeclared ports are absent. */
  appProtocols?: Record<string, AppProtocol>;
  subjectAltNames?: string[];
  endpoints?: Record<string, { workloadUid: string; port: Record<string, number>; status?: 'Healthy' | 'Unhealthy' }>;
  /** Kubernetes labels of the Service, when the model carries them. */
  labels?: Record<string, string>;
  /**
   * The waypoint the Service is bound to (the model's `GatewayAddress`): `network/ip` or `ns/hostname`, and its
   * HBONE port. Traffic from outside the mesh (an ingress gateway) goes there rather than to the endpoints.
   */
  waypoint?: { destination: string; hboneMtlsPort: number };
}

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
  services(): Iterable<ServiceView>;
  workloads(): Iterable<WorkloadView>;
  serviceByHostname(hostname: string): ServiceView | undefined;
  serviceByName(namespace: string, name: string): ServiceView | undefined;
  /** By VIP (`ip`, without network). */
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

function stripNetwork(vip: string): string {
  const i = vip.indexOf('/');
  return i >= 0 ? vip.slice(i + 1) : vip;
}

/** An in-memory {@link MeshStateReader}, indexed for the lookups above. Used by the runtime and the test kit. */
export class InMemoryMeshState implements MeshStateReader {
  version = 0;
  #services = new Map<string, ServiceView>();
  #byHost = new Map<string, ServiceView>();
  #byVip = new Map<string, ServiceView>();
  #workloads = new Map<string, WorkloadView>();
  #byIp = new Map<string, WorkloadView>();
  #endpointCache = new Map<string, Endpoint[]>();

  constructor(model?: { services?: ServiceView[]; workloads?: WorkloadView[] }) {
    if (model) this.replace(model);
  }

  replace(model: { services?: ServiceView[]; workloads?: WorkloadView[] }): void {
    this.#services.clear();
    this.#byHost.clear();
    this.#byVip.clear();
    this.#workloads.clear();
    this.#byIp.clear();
    this.#endpointCache.clear();
    for (const w of model.workloads ?? []) {
      this.#workloads.set(w.uid, w);
      for (const ip of w.workloadIps) this.#byIp.set(ip, w);
    }
    for (const s of model.services ?? []) {
      this.#services.set(`${s.namespace}/${s.name}`, s);
      this.#byHost.set(s.hostname, s);
      for (const v of s.vips) this.#byVip.set(stripNetwork(v), s);
    }
    this.version++;
  }

  services(): Iterable<ServiceView> {
    return this.#services.values();
  }
  workloads(): Iterable<WorkloadView> {
    return this.#workloads.values();
  }
  serviceByHostname(hostname: string): ServiceView | undefined {
    return this.#byHost.get(hostname);
  }
  serviceByName(namespace: string, name: string): ServiceView | undefined {
    return this.#services.get(`${namespace}/${name}`);
  }
  serviceByAddress(ip: string): ServiceView | undefined {
    return this.#byVip.get(ip);
  }
  workloadByUid(uid: string): WorkloadView | undefined {
    return this.#workloads.get(uid);
  }
  workloadByAddress(ip: string): WorkloadView | undefined {
    return this.#byIp.get(ip);
  }

  endpoints(service: ServiceView, port: number): Endpoint[] {
    const key = `${service.namespace}/${service.hostname}:${port}`;
    const cached = this.#endpointCache.get(key);
    if (cached) return cached;
    const out: Endpoint[] = [];
    const svcKey = `${service.namespace}/${service.hostname}`;
    const declaredTarget = service.ports[String(port)];
    const add = (w: WorkloadView, target: number | undefined) => {
      if (w.status === 'Unhealthy') return;
      const targetPort = target || declaredTarget || port;
      const ip = w.workloadIps[0];
      if (!ip) return;
      out.push({ address: ip, port: targetPort, workload: w, protocol: w.protocol, identity: spiffeId(w) });
    };
    if (service.endpoints) {
      for (const ep of Object.values(service.endpoints)) {
        const w = this.#workloads.get(ep.workloadUid);
        if (!w || ep.status === 'Unhealthy') continue;
        add(w, ep.port[String(port)]);
      }
    } else {
      for (const w of this.#workloads.values()) {
        const ports = w.services?.[svcKey];
        if (ports) add(w, ports[String(port)]);
      }
    }
    this.#endpointCache.set(key, out);
    return out;
  }
}
