// Policy attachment at a waypoint (Istio's policyattachment.go): only `targetRef`/`targetRefs` count; `selector`
// policies are for ztunnel/sidecars and are ignored here.
//   kind Gateway, group gateway.networking.k8s.io, name = this waypoint (same namespace)  -> all its traffic
//   kind Service, group "" (same namespace)                                               -> that service, and
//                                                                                            its pods' IPs
//   kind ServiceEntry, group networking.istio.io (same namespace)                          -> that host
//   kind GatewayClass, name istio-waypoint | istio-mesh, from the root namespace          -> every waypoint

import type { RequestContext, WaypointIdentity } from '@ambit/plugin-sdk';

export interface TargetRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
}

export const WAYPOINT_CLASSES = new Set(['istio-waypoint', 'istio-mesh']);
const GW_GROUP = 'gateway.networking.k8s.io';

/** Returns a predicate over requests, `undefined` when the object does not attach to this waypoint at all. */
export function attachment(
  spec: { targetRef?: TargetRef; targetRefs?: TargetRef[] } | undefined,
  namespace: string,
  waypoint: WaypointIdentity,
): ((ctx: RequestContext) => boolean) | undefined {
  // A reference that is not an object (or a targetRefs that is not a list) attaches to nothing.
  const listed: unknown[] = Array.isArray(spec?.targetRefs) ? spec.targetRefs : [];
  const refs = [spec?.targetRef, ...listed].filter((r): r is TargetRef => typeof r === 'object' && r !== null && !Array.isArray(r));
  if (refs.length === 0) return undefined;
  let all = false;
  const services = new Set<string>();
  for (const r of refs) {
    const group = r.group ?? '';
    const kind = r.kind ?? '';
    if (kind === 'Gateway' && group === GW_GROUP && r.name === waypoint.name && namespace === waypoint.namespace) all = true;
    else if (kind === 'GatewayClass' && group === GW_GROUP && WAYPOINT_CLASSES.has(r.name ?? '') && namespace === waypoint.rootNamespace) all = true;
    else if (kind === 'Service' && (group === '' || group === 'core')) services.add(`${namespace}/${r.name}`);
    else if (kind === 'ServiceEntry' && group === 'networking.istio.io') services.add(`${namespace}/${r.name}`);
  }
  if (all) return () => true;
  if (services.size === 0) return undefined;
  return (ctx) => {
    const s = ctx.destination.service;
    if (s !== undefined) return services.has(`${s.namespace}/${s.name}`);
    // A pod IP addressed directly is still one of its Services' endpoints: their policies apply to it.
    return ctx.destination.workloadServices?.some((w) => services.has(`${w.namespace}/${w.name}`)) ?? false;
  };
}
