// Which CONNECT authorities this waypoint serves. A waypoint is not a forward proxy: like Istio's (whose internal
// listener has filter chains only for the VIPs of its bound Services, on their ports, and for the IPs of its
// bound workloads), it takes a tunnel only to a Service bound to it (VIP or hostname, on a port the Service
// declares) or to a workload bound to it (its IP, any port). Anything else (an address outside the mesh, a
// Service of another waypoint, a pod reached around its Service) is refused before the tunnel is accepted.
// The plain HTTP listener (local testing) applies the same rule to the destination its Host header resolves to.

import { isIp, splitHostPort, type DestinationInfo, type MeshStateReader, type ServiceView, type WorkloadView } from '@ambit/plugin-sdk';

/** The Services (`ns/hostname`) and workloads (uids) bound to this waypoint, as the controller computed them. */
export interface WaypointBinding {
  services: string[];
  workloads: string[];
}

export type Admission = { ok: true } | { ok: false; reason: string };

const PORT = /^\d{1,5}$/;

/**
 * `binding` undefined (a local config file without one) counts every Service and workload of the snapshot as
 * bound: the file's author scoped the mesh. Addresses outside the mesh are refused either way.
 */
export class BoundDestinations {
  readonly #services?: Set<string>;
  readonly #workloads?: Set<string>;

  constructor(private readonly mesh: MeshStateReader, binding?: WaypointBinding) {
    if (binding) {
      this.#services = new Set(binding.services);
      this.#workloads = new Set(binding.workloads);
    }
  }

  #serviceBound(s: ServiceView): boolean {
    return !this.#services || this.#services.has(`${s.namespace}/${s.hostname}`);
  }

  #workloadBound(w: WorkloadView): boolean {
    return !this.#workloads || this.#workloads.has(w.uid);
  }

  /** Whether a CONNECT to `authority` (`ip:port`, `[ip6]:port` or `hostname:port`) is one this waypoint serves. */
  admit(authority: string): Admission {
    const portText = authority.slice(authority.lastIndexOf(':') + 1);
    if (!authority.includes(':') || !PORT.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return { ok: false, reason: 'authority is not host:port' };
    }
    const { host, port } = splitHostPort(authority);
    if (!host || port !== Number(portText)) return { ok: false, reason: 'authority is not host:port' };
    const svc = isIp(host) ? this.mesh.serviceByAddress(host) : this.mesh.serviceByHostname(host);
    if (svc) {
      if (!this.#serviceBound(svc)) return { ok: false, reason: `service ${svc.namespace}/${svc.hostname} is not bound to this waypoint` };
      if (svc.ports[String(port)] === undefined) return { ok: false, reason: `service ${svc.namespace}/${svc.hostname} has no port ${port}` };
      return { ok: true };
    }
    const w = isIp(host) ? this.mesh.workloadByAddress(host) : undefined;
    if (w) return this.#workloadBound(w) ? { ok: true } : { ok: false, reason: `workload ${w.uid} is not bound to this waypoint` };
    return { ok: false, reason: 'not a service or workload of the mesh' };
  }

  /** The same rule for a destination resolved from a Host header (plain listener): a bound Service or workload. */
  admitResolved(dest: DestinationInfo): Admission {
    const svc = dest.service?.view ?? (dest.service ? this.mesh.serviceByHostname(dest.service.hostname) : undefined);
    if (svc) return this.#serviceBound(svc) ? { ok: true } : { ok: false, reason: `service ${svc.namespace}/${svc.hostname} is not bound to this waypoint` };
    if (dest.workload) return this.#workloadBound(dest.workload) ? { ok: true } : { ok: false, reason: `workload ${dest.workload.uid} is not bound to this waypoint` };
    return { ok: false, reason: 'not a service or workload of the mesh' };
  }
}
