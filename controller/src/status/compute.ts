// Pure status computation (objects + mesh model in, conditions out) for what istiod reports on objects it does not
// own: AuthorizationPolicy (`ZtunnelAccepted`, `WaypointAccepted`; reference 5.1, istiod's ambient policies) and
// the mesh controller's entries in HTTPRoute and GRPCRoute `status.parents` (GAMMA routes and routes on waypoint Gateways, with
// Istio's `ResolvedWaypoints`; reference 9). A route the waypoint will refuse (the shape checks it runs, shared
// through @ambit/mesh-api/routes) is not Accepted: False, `UnsupportedValue`, the message naming the field.

import { checkGRPCRouteSpec, checkHTTPRouteSpec, RouteShapeError } from '@ambit/mesh-api/routes';
import { matchesSelector, resolveServiceWaypoint, waypointOf, type ResolveContext } from '../gateway/binding.js';
import { CLASS_MESH, CLASS_WAYPOINT, MESH_CONTROLLER } from '../gateway/constants.js';
import type { Gateway, Listener } from '../gateway/types.js';
import type { Condition, KubeObject } from '../kube/resources.js';
import type { RouteParentStatus } from '../kube/status.js';
import { nsName, type MeshModel } from '../mesh/model.js';
import type { MeshInput } from '../mesh/input.js';
import { crossNamespaceBackendRefs, GATEWAY_API_GROUP, referenceGrantAllows, targetRefsOf } from '../mesh/resources.js';

export const ZTUNNEL_ACCEPTED = 'ZtunnelAccepted';
export const WAYPOINT_ACCEPTED = 'WaypointAccepted';
export const RESOLVED_WAYPOINTS = 'ResolvedWaypoints';
export const MSG_MISSING_LABEL = 'istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected';
export const MSG_NO_PARENT = 'parent not found';

const gen = (o: KubeObject): { observedGeneration?: number } => (o.metadata.generation !== undefined ? { observedGeneration: o.metadata.generation } : {});

export function resolveContext(input: MeshInput): ResolveContext {
  const namespaces = new Map(input.namespaces.map((n) => [n.metadata.name!, n]));
  const gateways = new Map(input.gateways.map((g) => [nsName(g), g]));
  const classes = new Map(input.gatewayClasses.map((c) => [c.metadata.name!, c]));
  return { namespace: (n) => namespaces.get(n), gateway: (ns, n) => gateways.get(`${ns}/${n}`), gatewayClass: (n) => classes.get(n) };
}

/**
 * The conditions istiod writes on an AuthorizationPolicy. Without targetRefs: `ZtunnelAccepted`, True/`Accepted`
 * `attached to ztunnel`, or False with the conversion warning (`UnsupportedValue`). With targetRefs (never sent to
 * ztunnel): `WaypointAccepted` per the bound waypoints (`bound to ns/name`).
 */
export function authorizationPolicyConditions(ap: KubeObject, input: MeshInput, model: Pick<MeshModel, 'warnings'>, rootNamespace = 'istio-system'): Condition[] {
  const targets = targetRefsOf(ap);
  if (!targets.length) {
    const w = model.warnings.filter((x) => x.object === `AuthorizationPolicy ${nsName(ap)}`);
    if (w.length) return [{ type: ZTUNNEL_ACCEPTED, status: 'False', reason: w[0].reason, message: w.map((x) => x.message).join('; '), ...gen(ap) }];
    return [{ type: ZTUNNEL_ACCEPTED, status: 'True', reason: 'Accepted', message: 'attached to ztunnel', ...gen(ap) }];
  }
  const ctx = resolveContext(input);
  const ns = ap.metadata.namespace!;
  const bound: string[] = [];
  const problems: Array<{ reason: string; message: string }> = [];
  for (const t of targets) {
    const group = t.group ?? '';
    const key = `${t.namespace ?? ns}/${t.name}`;
    if (t.kind === 'Gateway' && group === GATEWAY_API_GROUP) {
      const w = waypointOf(ctx, { namespace: t.namespace ?? ns, name: t.name ?? '' });
      if (w) bound.push(key);
      else problems.push({ reason: 'TargetNotFound', message: `waypoint ${key} not found` });
    } else if (t.kind === 'Service' && (group === '' || group === 'core')) {
      const svc = input.services.find((s) => nsName(s) === key);
      if (!svc) {
        problems.push({ reason: 'TargetNotFound', message: `Service ${key} not found` });
        continue;
      }
      const r = resolveServiceWaypoint(ctx, svc);
      if (r.waypoint) bound.push(`${r.waypoint.namespace}/${r.waypoint.name}`);
      else problems.push({ reason: 'AncestorNotBound', message: `Service ${key} is not bound to a waypoint` });
    } else if (t.kind === 'GatewayClass' && group === GATEWAY_API_GROUP) {
      const cls = ctx.gatewayClass(t.name ?? '');
      if (!cls) problems.push({ reason: 'TargetNotFound', message: `GatewayClass ${t.name} not found` });
      else if (ns !== rootNamespace) problems.push({ reason: 'Invalid', message: `GatewayClass targetRefs are only allowed in the root namespace ${rootNamespace}` });
      else if ((cls as { spec?: { controllerName?: string } }).spec?.controllerName !== MESH_CONTROLLER)
        problems.push({ reason: 'Invalid', message: `GatewayClass must use controller name \`${MESH_CONTROLLER}\` for waypoints` });
      else bound.push(t.name!);
    } else {
      problems.push({ reason: 'Invalid', message: `unsupported targetRef ${t.kind ?? ''}${group ? `.${group}` : ''} ${key}` });
    }
  }
  const uniq = [...new Set(bound)];
  if (!problems.length) return [{ type: WAYPOINT_ACCEPTED, status: 'True', reason: 'Accepted', message: `bound to ${uniq.join(', ')}`, ...gen(ap) }];
  if (uniq.length)
    return [{ type: WAYPOINT_ACCEPTED, status: 'True', reason: 'PartiallyInvalid', message: `bound to ${uniq.join(', ')}; ${problems.map((p) => p.message).join('; ')}`, ...gen(ap) }];
  return [{ type: WAYPOINT_ACCEPTED, status: 'False', reason: problems[0].reason, message: problems.map((p) => p.message).join('; '), ...gen(ap) }];
}

interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  port?: number;
  sectionName?: string;
}

interface BackendRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
}

const isServiceRef = (r: { group?: string; kind?: string }, defaultKind: string): boolean => (r.kind ?? defaultKind) === 'Service' && (r.group ?? '') === '';
/** The objects of a list field (a route refused for its shape may hold anything there). */
const objects = <T>(v: unknown): T[] => (Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null && !Array.isArray(x)) as T[]) : []);

/** Why a waypoint will refuse this HTTPRoute or GRPCRoute (the checks it runs before compiling one), if it will. */
export function routeShapeProblem(route: KubeObject): RouteShapeError | undefined {
  if (route.kind !== 'HTTPRoute' && route.kind !== 'GRPCRoute') return undefined; // TLSRoute: nothing to compile
  try {
    (route.kind === 'GRPCRoute' ? checkGRPCRouteSpec : checkHTTPRouteSpec)((route as { spec?: unknown }).spec);
    return undefined;
  } catch (err) {
    if (err instanceof RouteShapeError) return err;
    throw err;
  }
}

/**
 * This controller's `status.parents` entries for a route: one per parentRef that is a Service (GAMMA) or a
 * waypoint Gateway (a mesh-controller class). Other parents (ingress Gateways) are left to their controllers.
 */
export function routeParentStatuses(route: KubeObject, input: MeshInput): RouteParentStatus[] {
  const ctx = resolveContext(input);
  const ns = route.metadata.namespace!;
  const spec = ((route as { spec?: { parentRefs?: unknown; rules?: unknown } }).spec ?? {});
  const services = new Map(input.services.map((s) => [nsName(s), s]));
  const problem = routeShapeProblem(route);

  const missing: string[] = [];
  for (const rule of objects<{ backendRefs?: unknown }>(spec.rules))
    for (const b of objects<BackendRef>(rule.backendRefs)) {
      if (!isServiceRef(b, 'Service')) continue;
      const key = `${b.namespace ?? ns}/${b.name}`;
      if (!services.has(key) && !missing.includes(key)) missing.push(key);
    }
  const resolvedRefs: Condition = missing.length
    ? { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: `backend(s) not found: ${missing.map((k) => `Service ${k}`).join(', ')}`, ...gen(route) }
    : { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved', ...gen(route) };
  // Routes on a waypoint Gateway need a ReferenceGrant for each backendRef in another namespace; mesh routes (Service
  // parents) do not (GEP-1294). A backend not permitted is reported as such, whether or not it exists.
  const grants = input.referenceGrants ?? [];
  const notPermitted = (problem ? [] : crossNamespaceBackendRefs(route)).filter((ref, i, all) => all.findIndex((o) => o.toNamespace === ref.toNamespace && o.name === ref.name) === i && !grants.some((g) => referenceGrantAllows(g, ref)));
  const gatewayResolvedRefs: Condition = notPermitted.length
    ? {
        type: 'ResolvedRefs',
        status: 'False',
        reason: 'RefNotPermitted',
        message: notPermitted
          .map((ref) => `backendRef Service ${ref.toNamespace}/${ref.name} is not permitted: a ReferenceGrant in namespace ${ref.toNamespace} must allow ${ref.fromKind}s from namespace ${ns}`)
          .join('; '),
        ...gen(route),
      }
    : resolvedRefs;
  const accepted: Condition = problem
    ? { type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: problem.message, ...gen(route) }
    : { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid', ...gen(route) };

  const out: RouteParentStatus[] = [];
  for (const p of objects<ParentRef>(spec.parentRefs)) {
    const pns = p.namespace ?? ns;
    if (isServiceRef(p, 'Gateway')) {
      const svc = services.get(`${pns}/${p.name}`);
      let waypoints: Condition;
      if (!svc) waypoints = { type: RESOLVED_WAYPOINTS, status: 'True', reason: 'NoMatchingParent', message: MSG_NO_PARENT, ...gen(route) };
      else if (resolveServiceWaypoint(ctx, svc).waypoint)
        waypoints = { type: RESOLVED_WAYPOINTS, status: 'True', reason: 'ResolvedWaypoints', message: 'All waypoints resolved', ...gen(route) };
      else waypoints = { type: RESOLVED_WAYPOINTS, status: 'True', reason: 'MissingUseWaypointLabel', message: MSG_MISSING_LABEL, ...gen(route) };
      out.push({ parentRef: { ...p }, controllerName: MESH_CONTROLLER, conditions: [accepted, resolvedRefs, waypoints] });
      continue;
    }
    if ((p.kind ?? 'Gateway') !== 'Gateway' || (p.group ?? GATEWAY_API_GROUP) !== GATEWAY_API_GROUP) continue;
    const gw = ctx.gateway(pns, p.name ?? '');
    if (!gw) continue;
    if (!isMeshGateway(gw, input)) continue;
    const allowed = attachingListeners(gw, p, ns, input).length > 0;
    const acc: Condition = allowed
      ? accepted
      : { type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners', message: `no listener of Gateway ${pns}/${p.name} allows routes from namespace ${ns}`, ...gen(route) };
    out.push({ parentRef: { ...p }, controllerName: MESH_CONTROLLER, conditions: [acc, gatewayResolvedRefs] });
  }
  return out;
}

/** A Gateway of a mesh-controller class (a waypoint). */
export function isMeshGateway(gw: Gateway, input: Pick<MeshInput, 'gatewayClasses'>): boolean {
  const clsName = gw.spec?.gatewayClassName;
  const cls = input.gatewayClasses.find((c) => c.metadata.name === clsName);
  const controller = cls?.spec?.controllerName ?? (clsName === CLASS_MESH || clsName === CLASS_WAYPOINT ? MESH_CONTROLLER : undefined);
  return controller === MESH_CONTROLLER;
}

function listenerAllows(l: Listener, gwNs: string, routeNs: string, input: Pick<MeshInput, 'namespaces'>): boolean {
  const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Selector') return matchesSelector(l.allowedRoutes?.namespaces?.selector, input.namespaces.find((n) => n.metadata.name === routeNs)?.metadata.labels ?? {});
  return gwNs === routeNs;
}

/** The listeners of `gw` a route in `routeNs` attaches to through parentRef `p` (sectionName, allowedRoutes). */
function attachingListeners(gw: Gateway, p: ParentRef, routeNs: string, input: Pick<MeshInput, 'namespaces'>): string[] {
  return (gw.spec?.listeners ?? [])
    .filter((l) => (p.sectionName === undefined || p.sectionName === l.name) && (p.port === undefined || p.port === l.port))
    .filter((l) => listenerAllows(l, gw.metadata.namespace!, routeNs, input))
    .map((l) => l.name);
}

/** `attachedRoutes` per listener of a waypoint Gateway: HTTPRoutes and GRPCRoutes whose parentRefs name it. */
export function attachedRoutes(gw: Gateway, input: MeshInput): Map<string, number> {
  const counts = new Map((gw.spec?.listeners ?? []).map((l) => [l.name, 0]));
  for (const route of [...(input.httpRoutes ?? []), ...(input.grpcRoutes ?? [])]) {
    const ns = route.metadata.namespace!;
    const seen = new Set<string>();
    for (const p of ((route as { spec?: { parentRefs?: ParentRef[] } }).spec?.parentRefs ?? [])) {
      if ((p.kind ?? 'Gateway') !== 'Gateway' || (p.group ?? GATEWAY_API_GROUP) !== GATEWAY_API_GROUP) continue;
      if ((p.namespace ?? ns) !== gw.metadata.namespace || p.name !== gw.metadata.name) continue;
      for (const l of attachingListeners(gw, p, ns, input)) seen.add(l);
    }
    for (const l of seen) counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  return counts;
}
