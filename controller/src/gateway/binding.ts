// Pure resolution of which waypoint a Service (or Pod) uses, from the `istio.io/use-waypoint` labels, and the
// Service condition `istio.io/WaypointBound` that reports it (section 1.5 of the reference; istiod's waypoints.go).
import type { Condition, KubeObject } from '../kube/resources.js';
import { A, CLASS_MESH, CLASS_WAYPOINT, L, MANAGED_VALUE, MESH_CONTROLLER, PORT_HBONE, PROTOCOL_HBONE, WAYPOINT_BOUND } from './constants.js';
import type { Gateway, GatewayClass, LabelSelector, Namespace } from './types.js';

export interface WaypointRef {
  namespace: string;
  name: string;
}

export interface Waypoint extends WaypointRef {
  trafficType: string;
  gateway: Gateway;
}

export interface ResolveContext {
  namespace(name: string): Namespace | undefined;
  gateway(namespace: string, name: string): Gateway | undefined;
  gatewayClass(name: string): GatewayClass | undefined;
}

export interface Resolution {
  waypoint?: Waypoint;
  /** Why no waypoint when one was asked for (Istio's StatusMessage). */
  error?: { reason: string; message: string };
  /** The label (object or namespace) that asked for a waypoint; undefined when none did. */
  requested?: WaypointRef;
}

const ref = (r: WaypointRef) => `${r.namespace}/${r.name}`;

/** Reads `istio.io/use-waypoint` (+ `istio.io/use-waypoint-namespace`) from labels; `none` opts out. */
export function getUseWaypoint(labels: Record<string, string> | undefined, defaultNamespace: string): { ref?: WaypointRef; isNone: boolean } {
  const v = labels?.[L.useWaypoint];
  if (v === undefined) return { isNone: false };
  if (v === 'none') return { isNone: true };
  return { ref: { name: v, namespace: labels?.[L.useWaypointNamespace] || defaultNamespace }, isNone: false };
}

export function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(labels[e.key])) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(labels[e.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** The traffic type a waypoint accepts: Gateway label, else its class's label, else `service`. */
export function trafficTypeOf(gw: Gateway, cls: GatewayClass | undefined): string {
  return gw.metadata.labels?.[L.waypointFor] ?? cls?.metadata.labels?.[L.waypointFor] ?? 'service';
}

/** A Gateway counts as a waypoint once it is of a mesh-controller class and has status.addresses (istiod's rule). */
export function waypointOf(ctx: ResolveContext, r: WaypointRef): Waypoint | undefined {
  const gw = ctx.gateway(r.namespace, r.name);
  if (!gw || !(gw.status?.addresses?.length)) return undefined;
  const clsName = gw.spec?.gatewayClassName;
  const cls = ctx.gatewayClass(clsName);
  const controller = cls?.spec?.controllerName ?? (clsName === CLASS_MESH || clsName === CLASS_WAYPOINT ? MESH_CONTROLLER : undefined);
  if (controller !== MESH_CONTROLLER) return undefined;
  return { ...r, gateway: gw, trafficType: trafficTypeOf(gw, cls) };
}

function allowsNamespace(w: Waypoint, ns: string, nsObj: Namespace | undefined): boolean {
  const l = (w.gateway.spec?.listeners ?? []).find((x) => x.protocol === PROTOCOL_HBONE && x.port === PORT_HBONE);
  const from = l?.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Selector') return matchesSelector(l?.allowedRoutes?.namespaces?.selector, nsObj?.metadata.labels ?? {});
  return w.namespace === ns;
}

function fetchForTarget(ctx: ResolveContext, obj: KubeObject): Resolution {
  const ns = obj.metadata.namespace!;
  const own = getUseWaypoint(obj.metadata.labels, ns);
  if (own.isNone) return {};
  let requested = own.ref;
  if (!requested) {
    const nsObj = ctx.namespace(ns);
    requested = getUseWaypoint(nsObj?.metadata.labels, ns).ref;
  }
  if (!requested) return {};
  const w = waypointOf(ctx, requested);
  if (!w) return { requested, error: { reason: 'WaypointIsNotReady', message: `waypoint "${ref(requested)}" is not ready` } };
  if (!allowsNamespace(w, ns, ctx.namespace(ns))) {
    return { requested, error: { reason: 'AttachmentDenied', message: `we are not permitted to attach to waypoint "${ref(w)}" (missing allowedRoutes?)` } };
  }
  return { requested, waypoint: w };
}

/** The waypoint for a Service's traffic; waypoints' own Services never get one. */
export function resolveServiceWaypoint(ctx: ResolveContext, svc: KubeObject): Resolution {
  if (svc.metadata.labels?.[L.managed] === MANAGED_VALUE) return {};
  const r = fetchForTarget(ctx, svc);
  if (!r.waypoint) return r;
  if (r.waypoint.trafficType === 'service' || r.waypoint.trafficType === 'all') return r;
  return { requested: r.requested, error: { reason: 'UnsupportedTrafficType', message: `attempting to bind to traffic type "service" which the waypoint "${ref(r.waypoint)}" does not support` } };
}

/** The waypoint for a workload's (Pod's) traffic. */
export function resolveWorkloadWaypoint(ctx: ResolveContext, pod: KubeObject): Resolution {
  const r = fetchForTarget(ctx, pod);
  if (!r.waypoint) return r;
  if (r.waypoint.trafficType === 'workload' || r.waypoint.trafficType === 'all') return r;
  return { requested: r.requested, error: { reason: 'UnsupportedTrafficType', message: `attempting to bind to traffic type "workload" which the waypoint "${ref(r.waypoint)}" does not support` } };
}

/** The `istio.io/WaypointBound` condition for a Service, or undefined when it asks for no waypoint. */
export function waypointBoundCondition(ctx: ResolveContext, svc: KubeObject): Condition | undefined {
  const r = resolveServiceWaypoint(ctx, svc);
  if (!r.requested) return undefined;
  const gen = svc.metadata.generation;
  const base = gen !== undefined ? { observedGeneration: gen } : {};
  if (r.waypoint) return { type: WAYPOINT_BOUND, status: 'True', reason: 'WaypointAccepted', message: `Successfully attached to waypoint ${ref(r.waypoint)}`, ...base };
  return { type: WAYPOINT_BOUND, status: 'False', reason: r.error!.reason, message: r.error!.message, ...base };
}

/** Legacy dialects: the service account a waypoint Gateway is scoped to (2022 / 1.18-1.21 annotations). */
export function waypointServiceAccountScope(gw: Gateway): string | undefined {
  return gw.metadata.annotations?.[A.legacyServiceAccount] || gw.metadata.annotations?.[A.forServiceAccount] || undefined;
}
