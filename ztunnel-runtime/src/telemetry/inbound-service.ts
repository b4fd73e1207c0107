// Which Service an inbound connection was for, for the destination side's metrics and access log. The tunnel names
// a pod address, so this is a guess, made as Istio's ztunnel makes it: the Service the source named (its
// `Forwarded: host=`) if the pod backs it, else the first of the pod's Services with a target port equal to the
// destination port. Only the pod's own Services are candidates, so a peer cannot name an arbitrary one.
import type { Service, Workload } from '@ambit/mesh-api';
import type { MeshStore } from '../state/store.js';

/** The `host=` of a `Forwarded` header (RFC 7239), unquoted; undefined when absent or malformed. */
export function forwardedHost(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  // The first element only: later ones were added by hops after the source.
  for (const pair of value.split(',')[0]!.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'host') continue;
    const v = pair.slice(eq + 1).trim();
    return (v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v) || undefined;
  }
  return undefined;
}

export function guessInboundService(store: MeshStore, local: Workload, port: number, host?: string): Service | undefined {
  const mine = Object.entries(local.services ?? {});
  if (host) {
    for (const [key] of mine) {
      const s = store.service(key);
      if (s?.hostname === host) return s;
    }
  }
  for (const [key, ports] of mine) {
    if (!Object.values(ports).includes(port)) continue;
    const s = store.service(key);
    if (s) return s;
  }
  return undefined;
}
