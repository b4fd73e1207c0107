// Which Service an inbound connection was for, for the destination side's metrics and access log. The tunnel names
// a pod address, so this is a guess, made as Istio's ztunnel makes it: the Service the source named (its
// `Forwarded: host=`) if the pod backs it, else the first of the pod's Services with a target port equal to the
// destination port. Only the pod's own Services are candidates, so a peer cannot name an arbitrary one.
import type { MeshStore, Service, Workload } from '@ambit/mesh-api';

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
