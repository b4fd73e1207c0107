// What a waypoint's or ingress gateway's objects are named, and the service account a legacy-dialect waypoint is scoped to:
// read by the renderer (the objects it writes) and by the mesh model (whose pods may use the config stream),
// so neither depends on the other.
import { A } from './constants.js';
import type { Gateway } from './types.js';

/** The one ingress gateway `ambit install` can install (the controller serves its config under this name). */
export const INGRESS_GATEWAY_NAME = 'istio-ingressgateway';
/** istioctl's ServiceAccount of the default ingress gateway (what `GATEWAY_SERVICE_ACCOUNT` names in the docs). */
export const INGRESS_SERVICE_ACCOUNT = 'istio-ingressgateway-service-account';

export interface WaypointNames {
  /** Name of the Deployment and Service. */
  deployment: string;
  /** Name of the waypoint's own ServiceAccount. */
  serviceAccount: string;
  /** The service account whose workloads the waypoint serves (the 2022 and 1.18-1.21 dialects), if scoped. */
  forServiceAccount?: string;
}

/** The service account a legacy-dialect waypoint is scoped to, if any. */
export function scopedServiceAccount(gw: Gateway): string | undefined {
  const ann = gw.metadata.annotations ?? {};
  return ann[A.legacyServiceAccount] || ann[A.forServiceAccount] || undefined;
}

/**
 * Object names. Today's waypoints are named exactly as the Gateway. A waypoint scoped to one service account (the
 * 2022 `istio.io/service-account` and the 1.18-1.21 `istio.io/for-service-account` dialects) keeps that era's
 * `-istio-waypoint` suffix, so its own ServiceAccount never collides with the application's it serves.
 * `gateway.istio.io/name-override` and `gateway.istio.io/service-account` override either.
 */
export function waypointNames(gw: Gateway): WaypointNames {
  const ann = gw.metadata.annotations ?? {};
  const forSA = scopedServiceAccount(gw);
  const base = forSA ? `${gw.metadata.name}-istio-waypoint` : gw.metadata.name!;
  return { deployment: ann[A.nameOverride] || base, serviceAccount: ann[A.serviceAccount] || base, forServiceAccount: forSA };
}

/** An ingress Gateway's: `<gateway>-<gatewayClassName>` unless `gateway.istio.io/name-override` / `gateway.istio.io/service-account`. */
export function ingressNames(gw: Gateway): WaypointNames {
  const ann = gw.metadata.annotations ?? {};
  const base = `${gw.metadata.name}-${gw.spec.gatewayClassName}`;
  return { deployment: ann[A.nameOverride] || base, serviceAccount: ann[A.serviceAccount] || base };
}

/** The Service host a waypoint is reached at. */
export const serviceHost = (name: string, namespace: string, domain = 'cluster.local'): string => `${name}.${namespace}.svc.${domain}`;
