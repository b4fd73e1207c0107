// Where an ingress gateway sends a request for a Service that has a waypoint: to the waypoint, over HBONE, with
// the CONNECT authority `<VIP>:<port>` of the Service (the waypoint admits only its bound Services' VIPs), as
// Istio's gateways do for a waypoint-bound Service. The waypoint's address is the model's `GatewayAddress`:
// `network/ip`, or `ns/hostname` of the waypoint's own Service (then its VIP). The identity expected from the
// waypoint is that of the workload(s) behind the address, when the model knows them.

import { isIp, spiffeId, type Backend, type Endpoint, type MeshStateReader, type ServiceView } from '@ambit/plugin-sdk';

const HBONE_PORT = 15008;

const afterSlash = (s: string) => s.slice(s.indexOf('/') + 1);

function identityOf(mesh: MeshStateReader, address: string, svc: ServiceView | undefined): string | undefined {
  const w = mesh.workloadByAddress(address);
  if (w) return spiffeId(w);
  if (!svc) return undefined;
  const port = Object.keys(svc.ports)[0];
  const ep = port === undefined ? undefined : mesh.endpoints(svc, Number(port))[0];
  return ep?.identity;
}

/** The waypoint endpoint for `backend`'s Service, or undefined when it has no waypoint (or an unresolvable one). */
export function waypointHop(backend: Backend, mesh: MeshStateReader): Endpoint | undefined {
  const s = backend.service;
  if (!s) return undefined;
  const view = mesh.serviceByHostname(s.hostname);
  const wp = view?.waypoint;
  const vip = view?.vips[0];
  if (!view || !wp || !vip) return undefined;
  const target = afterSlash(wp.destination);
  let address: string | undefined;
  let wpService: ServiceView | undefined;
  if (isIp(target)) {
    address = target;
    wpService = mesh.serviceByAddress(target);
  } else {
    wpService = mesh.serviceByHostname(target);
    address = wpService?.vips[0] ? afterSlash(wpService.vips[0]) : undefined;
  }
  if (!address) return undefined;
  return {
    address: afterSlash(vip),
    port: s.port,
    protocol: 'HBONE',
    identity: identityOf(mesh, address, wpService),
    via: { address, port: wp.hboneMtlsPort || HBONE_PORT },
  };
}
