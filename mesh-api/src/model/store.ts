// The one indexed store of the mesh model, held by the ztunnel (its whole state) and by the waypoint (behind the
// plugin SDK's MESH_STATE), so both runtimes see the same endpoints for a Service. Full and delta updates each emit
// one `change` event naming what changed.
//
// Indexes: workloads by uid and by `network/ip`; services by `ns/hostname`, by `network/vip`, by hostname and by
// `ns/name`; policies by `ns/name` and by namespace ("" for Global).
//
// The endpoint rule (Istio's ztunnel, `state/service.rs` ServiceStore and `Service::should_include_endpoint`): a
// Service's endpoints are keyed by workload uid and are
//   - every workload that names the Service in its `services` map (`ns/hostname` -> service port -> target port),
//     with that map's ports and the workload's own health, plus
//   - the Service's own inline `endpoints` (the local config's form) for workloads that do not name it, with the
//     entry's ports and health (the workload's when the entry has none).
// An endpoint whose workload is unknown is left out. An Unhealthy endpoint is listed but not load-balanced to,
// unless the Service's `loadBalancer.healthPolicy` is AllowAll ({@link loadBalanced}).
import { EventEmitter } from 'node:events';
import { addressKey, splitNetworkAddress } from './address.js';
import { policyKey, serviceKey, type Authorization, type HealthStatus, type MeshConfig, type Service, type Workload } from './types.js';

/** Items added or replaced by a delta. */
export interface MeshDelta {
  workloads?: Workload[];
  services?: Service[];
  policies?: Authorization[];
}

/** Keys removed by a delta. */
export interface MeshRemovals {
  /** workload uids */
  workloads?: string[];
  /** `ns/hostname` */
  services?: string[];
  /** `ns/name` */
  policies?: string[];
}

/** What changed in one update (keys). `policies` is set when anything RBAC-relevant changed. */
export interface MeshChange {
  workloads: string[];
  services: string[];
  policies: string[];
  full: boolean;
}

/** One endpoint of a Service: its workload, service port -> target port, and its health. */
export interface ServiceEndpoint {
  workload: Workload;
  ports: Record<string, number>;
  status: HealthStatus;
}

/** Whether traffic for `svc` may go to `ep`: Healthy, or any endpoint when the Service allows all. */
export function loadBalanced(svc: Pick<Service, 'loadBalancer'>, ep: Pick<ServiceEndpoint, 'status'>): boolean {
  return ep.status !== 'Unhealthy' || svc.loadBalancer?.healthPolicy === 'AllowAll';
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let set = m.get(k);
  if (!set) m.set(k, (set = new Set()));
  set.add(v);
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const set = m.get(k);
  if (!set) return;
  set.delete(v);
  if (set.size === 0) m.delete(k);
}

/** The most recently added member of a set. */
function newest<V>(set: Set<V> | undefined): V | undefined {
  let last: V | undefined;
  for (const v of set ?? []) last = v;
  return last;
}

export class MeshStore extends EventEmitter {
  readonly workloads = new Map<string, Workload>();
  /** `ns/hostname` -> service */
  readonly services = new Map<string, Service>();
  readonly policies = new Map<string, Authorization>();
  private readonly workloadByAddr = new Map<string, Workload>();
  private readonly serviceByVip = new Map<string, Service>();
  /** hostname -> service keys (a hostname may repeat across namespaces) */
  private readonly serviceKeysByHost = new Map<string, Set<string>>();
  /** `ns/name` -> service keys */
  private readonly serviceKeysByName = new Map<string, Set<string>>();
  /** namespace ("" for Global) -> policy keys */
  private readonly policiesByNs = new Map<string, Set<string>>();
  /** service key -> workload uid -> ports, from the workloads' `services` maps */
  private readonly endpointIndex = new Map<string, Map<string, Record<string, number>>>();

  applyFull(cfg: MeshConfig): void {
    const ev: MeshChange = { workloads: [...this.workloads.keys()], services: [...this.services.keys()], policies: [...this.policies.keys()], full: true };
    this.workloads.clear();
    this.services.clear();
    this.policies.clear();
    this.workloadByAddr.clear();
    this.serviceByVip.clear();
    this.serviceKeysByHost.clear();
    this.serviceKeysByName.clear();
    this.policiesByNs.clear();
    this.endpointIndex.clear();
    for (const w of cfg.workloads ?? []) this.putWorkload(w);
    for (const s of cfg.services ?? []) this.putService(s);
    for (const p of cfg.policies ?? []) this.putPolicy(p);
    ev.workloads = [...new Set([...ev.workloads, ...this.workloads.keys()])];
    ev.services = [...new Set([...ev.services, ...this.services.keys()])];
    ev.policies = [...new Set([...ev.policies, ...this.policies.keys()])];
    this.emit('change', ev);
  }

  applyDelta(upserts: MeshDelta, removals: MeshRemovals = {}): void {
    const ev: MeshChange = { workloads: [], services: [], policies: [], full: false };
    for (const uid of removals.workloads ?? []) if (this.removeWorkload(uid)) ev.workloads.push(uid);
    for (const k of removals.services ?? []) if (this.removeService(k)) ev.services.push(k);
    for (const k of removals.policies ?? []) if (this.removePolicy(k)) ev.policies.push(k);
    for (const w of upserts.workloads ?? []) {
      const prev = this.workloads.get(w.uid);
      this.putWorkload(w);
      ev.workloads.push(w.uid);
      if (prev && (prev.authorizationPolicies ?? []).join() !== (w.authorizationPolicies ?? []).join()) ev.policies.push(...(w.authorizationPolicies ?? []), ...(prev.authorizationPolicies ?? []));
    }
    for (const s of upserts.services ?? []) {
      this.putService(s);
      ev.services.push(serviceKey(s));
    }
    for (const p of upserts.policies ?? []) {
      this.putPolicy(p);
      ev.policies.push(policyKey(p));
    }
    this.emit('change', ev);
  }

  toConfig(): Required<MeshConfig> {
    return { workloads: [...this.workloads.values()], services: [...this.services.values()], policies: [...this.policies.values()] };
  }

  // ---- lookups

  workloadByIp(ip: string, network = ''): Workload | undefined {
    return this.workloadByAddr.get(addressKey(network, ip));
  }

  serviceByAddress(ip: string, network = ''): Service | undefined {
    return this.serviceByVip.get(addressKey(network, ip));
  }

  /** By `ns/hostname`. */
  service(key: string): Service | undefined {
    return this.services.get(key);
  }

  /** By hostname alone; when namespaces repeat it, the one added last. */
  serviceByHostname(hostname: string): Service | undefined {
    const k = newest(this.serviceKeysByHost.get(hostname));
    return k === undefined ? undefined : this.services.get(k);
  }

  /** By the Kubernetes Service's namespace and name. */
  serviceByName(namespace: string, name: string): Service | undefined {
    const k = newest(this.serviceKeysByName.get(`${namespace}/${name}`));
    return k === undefined ? undefined : this.services.get(k);
  }

  /** Endpoints of a service, by the rule in this file's header: the Service's own first, in their order. */
  endpoints(svc: Service): ServiceEndpoint[] {
    const named = this.endpointIndex.get(serviceKey(svc));
    const out: ServiceEndpoint[] = [];
    const seen = new Set<string>();
    for (const ep of Object.values(svc.endpoints ?? {})) {
      const w = this.workloads.get(ep.workloadUid);
      if (!w || seen.has(w.uid)) continue;
      seen.add(w.uid);
      const ports = named?.get(w.uid);
      if (ports) out.push({ workload: w, ports, status: w.status ?? 'Healthy' });
      else out.push({ workload: w, ports: ep.port ?? {}, status: ep.status ?? w.status ?? 'Healthy' });
    }
    for (const [uid, ports] of named ?? []) {
      const w = this.workloads.get(uid);
      if (w && !seen.has(uid)) out.push({ workload: w, ports, status: w.status ?? 'Healthy' });
    }
    return out;
  }

  /** Candidate policies for a destination workload: namespace-scoped ∪ global ∪ the workload's own. */
  policiesFor(w: Workload): Authorization[] {
    const keys = new Set<string>();
    for (const k of this.policiesByNs.get(w.namespace) ?? []) keys.add(k);
    for (const k of this.policiesByNs.get('') ?? []) keys.add(k);
    for (const k of w.authorizationPolicies ?? []) keys.add(k);
    const out: Authorization[] = [];
    for (const k of keys) {
      const p = this.policies.get(k);
      if (p) out.push(p);
    }
    return out;
  }

  // ---- mutation

  private putWorkload(w: Workload): void {
    this.removeWorkload(w.uid);
    this.workloads.set(w.uid, w);
    for (const ip of w.workloadIps ?? []) this.workloadByAddr.set(addressKey(w.network, ip), w);
    for (const [svc, ports] of Object.entries(w.services ?? {})) {
      let m = this.endpointIndex.get(svc);
      if (!m) this.endpointIndex.set(svc, (m = new Map()));
      m.set(w.uid, ports);
    }
  }

  private removeWorkload(uid: string): boolean {
    const w = this.workloads.get(uid);
    if (!w) return false;
    this.workloads.delete(uid);
    for (const ip of w.workloadIps ?? []) {
      const k = addressKey(w.network, ip);
      if (this.workloadByAddr.get(k) === w) this.workloadByAddr.delete(k);
    }
    for (const svc of Object.keys(w.services ?? {})) {
      const m = this.endpointIndex.get(svc);
      m?.delete(uid);
      if (m?.size === 0) this.endpointIndex.delete(svc);
    }
    return true;
  }

  private putService(s: Service): void {
    const key = serviceKey(s);
    this.removeService(key);
    this.services.set(key, s);
    for (const vip of s.vips ?? []) {
      const { network, ip } = splitNetworkAddress(vip);
      this.serviceByVip.set(addressKey(network, ip), s);
    }
    addTo(this.serviceKeysByHost, s.hostname, key);
    addTo(this.serviceKeysByName, `${s.namespace}/${s.name}`, key);
  }

  private removeService(key: string): boolean {
    const s = this.services.get(key);
    if (!s) return false;
    this.services.delete(key);
    for (const vip of s.vips ?? []) {
      const { network, ip } = splitNetworkAddress(vip);
      const k = addressKey(network, ip);
      if (this.serviceByVip.get(k) === s) this.serviceByVip.delete(k);
    }
    removeFrom(this.serviceKeysByHost, s.hostname, key);
    removeFrom(this.serviceKeysByName, `${s.namespace}/${s.name}`, key);
    return true;
  }

  private putPolicy(p: Authorization): void {
    const key = policyKey(p);
    this.removePolicy(key);
    this.policies.set(key, p);
    const ns = p.scope === 'Global' ? '' : p.scope === 'Namespace' ? p.namespace : undefined;
    if (ns !== undefined) addTo(this.policiesByNs, ns, key);
  }

  private removePolicy(key: string): boolean {
    const p = this.policies.get(key);
    if (!p) return false;
    this.policies.delete(key);
    for (const [ns, set] of this.policiesByNs) if (set.delete(key) && set.size === 0) this.policiesByNs.delete(ns);
    return true;
  }
}
