// Resolve where a request was going from the HBONE CONNECT authority (or, for plain HTTP, the Host header),
// through the mesh state. Shared by the runtime and the test kit.

import type { DestinationInfo, SourceInfo } from './context.js';
import { parseSpiffe } from './context.js';
import type { MeshStateReader, WorkloadView } from './mesh.js';

export function splitHostPort(authority: string, defaultPort = 80): { host: string; port: number } {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    const host = authority.slice(1, end);
    const rest = authority.slice(end + 1);
    return { host, port: rest.startsWith(':') ? Number(rest.slice(1)) : defaultPort };
  }
  const i = authority.lastIndexOf(':');
  if (i < 0 || authority.indexOf(':') !== i) return { host: authority, port: defaultPort };
  return { host: authority.slice(0, i), port: Number(authority.slice(i + 1)) || defaultPort };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
export function isIp(host: string): boolean {
  return IPV4.test(host) || host.includes(':');
}

/**
 * `authority` is `ip:port` (HBONE) or a Host header (`reviews:9080`, `reviews.default.svc.cluster.local`).
 * Short names are expanded in `namespace` (the waypoint's) the way cluster DNS search paths would.
 */
export function resolveDestination(
  mesh: MeshStateReader,
  authority: string,
  opts: { namespace?: string; domain?: string; defaultPort?: number } = {},
): DestinationInfo {
  const { host, port } = splitHostPort(authority, opts.defaultPort ?? 80);
  const dest: DestinationInfo = { originalAuthority: authority, address: host, port };
  if (isIp(host)) {
    const svc = mesh.serviceByAddress(host);
    if (svc) {
      dest.service = { hostname: svc.hostname, namespace: svc.namespace, name: svc.name, port, view: svc };
    } else {
      const w = mesh.workloadByAddress(host);
      dest.workload = w;
      if (w) dest.workloadServices = servicesOf(mesh, w);
    }
    return dest;
  }
  const ns = opts.namespace ?? 'default';
  const domain = opts.domain ?? 'cluster.local';
  const candidates = [host, `${host}.${ns}.svc.${domain}`, `${host}.svc.${domain}`, `${host}.${domain}`];
  for (const c of candidates) {
    const svc = mesh.serviceByHostname(c);
    if (svc) {
      dest.service = { hostname: svc.hostname, namespace: svc.namespace, name: svc.name, port, view: svc };
      break;
    }
  }
  return dest;
}

/** The Services `w` is an endpoint of (its `ns/hostname` keys, resolved through the mesh). */
function servicesOf(mesh: MeshStateReader, w: WorkloadView): Array<{ hostname: string; namespace: string; name: string }> {
  const out: Array<{ hostname: string; namespace: string; name: string }> = [];
  for (const key of Object.keys(w.services ?? {})) {
    const slash = key.indexOf('/');
    const svc = mesh.serviceByHostname(key.slice(slash + 1));
    if (svc && svc.namespace === key.slice(0, slash)) out.push({ hostname: svc.hostname, namespace: svc.namespace, name: svc.name });
  }
  for (const svc of mesh.services()) {
    if (svc.endpoints && Object.values(svc.endpoints).some((e) => e.workloadUid === w.uid) && !out.some((s) => s.hostname === svc.hostname && s.namespace === svc.namespace)) {
      out.push({ hostname: svc.hostname, namespace: svc.namespace, name: svc.name });
    }
  }
  return out;
}

/**
 * The original client address as Envoy computes it with `xff_num_trusted_hops` (Istio's `numTrustedProxies`):
 * with 0 trusted hops (the default) the source address, whatever `X-Forwarded-For` claims; with N, the Nth entry
 * from the right of `X-Forwarded-For` (the address the outermost trusted proxy saw), or the source address when
 * the header has fewer than N entries.
 */
export function trustedClientAddress(xff: string | string[] | undefined, sourceAddress: string, numTrustedProxies = 0): string {
  if (numTrustedProxies <= 0 || xff === undefined) return sourceAddress;
  const entries = (Array.isArray(xff) ? xff.join(',') : xff)
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length < numTrustedProxies) return sourceAddress;
  return entries[entries.length - numTrustedProxies]!;
}

/** Build the source from the peer identity (SPIFFE) and the client address. */
export function resolveSource(mesh: MeshStateReader, principal: string | undefined, address: string, port: number): SourceInfo {
  const id = parseSpiffe(principal);
  return {
    principal,
    namespace: id?.namespace,
    serviceAccount: id?.serviceAccount,
    address,
    port,
    workload: mesh.workloadByAddress(address),
  };
}
