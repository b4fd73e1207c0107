// The indexed mesh model: workloads by uid and by IP, services by `ns/hostname` and by VIP, policies by key,
// plus service endpoints derived from workloads' `services` maps. Full and delta updates emit one `change` event.
import { EventEmitter } from 'node:events';
import { policyKey, serviceKey, type Authorization, type MeshConfig, type Service, type Workload } from '@ambit/mesh-api';

export interface MeshDelta {
  workloads?: Workload[];
  services?: Service[];
  policies?: Authorization[];
}

export interface MeshRemovals {
  /** workload uids */
  workloads?: string[];
  /** `ns/hostname` */
  services?: string[];
  /** `ns/name` */
  policies?: string[];
}

/** What changed in one update (keys). `policies` is set when anything RBAC-relevant changed. */
export interface ChangeEvent {
  workloads: string[];
  services: string[];
  policies: string[];
  full: boolean;
}

export interface Endpoint {
  workload: Workload;
  /** service port -> target port for this endpoint */
  ports: Record<string, number>;
}

/** `network/ip` from a VIP string; `ip` alone means the default network. */
export function splitNetworkAddress(a: string): { network: string; ip: string } {
  const i = a.indexOf('/');
  if (i < 0) return { network: '', ip: a };
  return { network: a.slice(0, i), ip: a.slice(i + 1) };
}

const addrKey = (network: string | undefined, ip: string) => `${network ?? ''}/${ip}`;

export class MeshStore extends EventEmitter {
  readonly workloads = new Map<string, Workload>();
  readonly services = new Map<string, Service>();
  readonly policies = new Map<string, Authorization>();
  private readonly workloadByAddr = new Map<string, Workload>();
  private readonly serviceByVip = new Map<string, Service>();
  /** namespace ("" for Global) -> policy keys */
  private readonly policiesByNs = new Map<string, Set<string>>();
  /** service key -> workload uid -> ports */
  private readonly endpointIndex = new Map<string, Map<string, Record<string, number>>>();

  applyFull(cfg: MeshConfig): void {
    const ev: ChangeEvent = { workloads: [...this.workloads.keys()], services: [...this.services.keys()], policies: [...this.policies.keys()], full: true };
    this.workloads.clear();
    this.services.clear();
    this.policies.clear();
    this.workloadByAddr.clear();
    this.serviceByVip.clear();
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
    const ev: ChangeEvent = { workloads: [], services: [], policies: [], full: false };
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
    return this.workloadByAddr.get(addrKey(network, ip));
  }

  serviceByAddress(ip: string, network = ''): Service | undefined {
    return this.serviceByVip.get(addrKey(network, ip));
  }

  service(key: string): Service | undefined {
    return this.services.get(key);
  }

  /** Endpoints of a service: from workloads' `services` maps and the service's own `endpoints`. */
  endpoints(svc: Service): Endpoint[] {
    const key = serviceKey(svc);
    const out = new Map<string, Endpoint>();
    for (const [uid, ports] of this.endpointIndex.get(key) ?? []) {
      const w = this.workloads.get(uid);
      if (w) out.set(uid, { workload: w, ports });
    }
    for (const ep of Object.values(svc.endpoints ?? {})) {
      const w = this.workloads.get(ep.workloadUid);
      if (w && !out.has(w.uid)) out.set(w.uid, { workload: ep.status ? { ...w, status: ep.status } : w, ports: ep.port ?? {} });
    }
    return [...out.values()];
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
    for (const ip of w.workloadIps ?? []) this.workloadByAddr.set(addrKey(w.network, ip), w);
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
      const k = addrKey(w.network, ip);
      if (this.workloadByAddr.get(k) === w) this.workloadByAddr.delete(k);
    }
    for (const svc of Object.keys(w.services ?? {})) this.endpointIndex.get(svc)?.delete(uid);
    return true;
  }

  private putService(s: Service): void {
    const key = serviceKey(s);
    this.removeService(key);
    this.services.set(key, s);
    for (const vip of s.vips ?? []) {
      const { network, ip } = splitNetworkAddress(vip);
      this.serviceByVip.set(addrKey(network, ip), s);
    }
  }

  private removeService(key: string): boolean {
    const s = this.services.get(key);
    if (!s) return false;
    this.services.delete(key);
    for (const vip of s.vips ?? []) {
      const { network, ip } = splitNetworkAddress(vip);
      const k = addrKey(network, ip);
      if (this.serviceByVip.get(k) === s) this.serviceByVip.delete(k);
    }
    return true;
  }

  private putPolicy(p: Authorization): void {
    const key = policyKey(p);
    this.removePolicy(key);
    this.policies.set(key, p);
    const ns = p.scope === 'Global' ? '' : p.scope === 'Namespace' ? p.namespace : undefined;
    if (ns !== undefined) {
      let set = this.policiesByNs.get(ns);
      if (!set) this.policiesByNs.set(ns, (set = new Set()));
      set.add(key);
    }
  }

  private removePolicy(key: string): boolean {
    const p = this.policies.get(key);
    if (!p) return false;
    this.policies.delete(key);
    for (const set of this.policiesByNs.values()) set.delete(key);
    return true;
  }
}
