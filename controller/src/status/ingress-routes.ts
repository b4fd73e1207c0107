// Pure route status for parents that are class `istio` (ingress) Gateways: the `istio.io/gateway-controller`
// entries of HTTPRoute/GRPCRoute/TLSRoute `status.parents` (istiod's createRouteStatus: Accepted from listener attachment,
// ResolvedRefs from the backendRefs, which need a ReferenceGrant across namespaces), and each listener's
// attachedRoutes.
import { GATEWAY_CONTROLLER } from '../gateway/constants.js';
import { attachRoute } from '../gateway/ingress-attach.js';
import { resolveIngressListeners, type ResolvedListener } from '../gateway/ingress-listeners.js';
import type { Gateway } from '../gateway/types.js';
import type { Condition, KubeObject } from '../kube/resources.js';
import type { RouteParentStatus } from '../kube/status.js';
import type { MeshInput } from '../mesh/input.js';
import { isIngressGateway } from '../mesh/ingress-gateway-api.js';
import { referenceGrantAllows } from '../mesh/resources.js';
import { routeShapeProblem } from './compute.js';

const gen = (o: KubeObject): { observedGeneration?: number } => (o.metadata.generation !== undefined ? { observedGeneration: o.metadata.generation } : {});
const objects = <T>(v: unknown): T[] => (Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null && !Array.isArray(x)) as T[]) : []);

interface BackendRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
}

/** ResolvedRefs of a route on an ingress Gateway: the last bad backendRef decides, as in istiod. */
export function ingressResolvedRefs(route: KubeObject, input: Pick<MeshInput, 'services' | 'referenceGrants'>, domain = 'cluster.local'): Condition {
  const ns = route.metadata.namespace!;
  const kind = route.kind ?? 'HTTPRoute';
  let problem: { reason: string; message: string } | undefined;
  for (const rule of objects<{ backendRefs?: unknown }>((route as { spec?: { rules?: unknown } }).spec?.rules))
    for (const b of objects<BackendRef>(rule.backendRefs)) {
      const toNs = b.namespace ?? ns;
      const isService = (b.kind ?? 'Service') === 'Service' && ((b.group ?? '') === '' || b.group === 'core');
      if (toNs !== ns && !(input.referenceGrants ?? []).some((g) => referenceGrantAllows(g, { fromKind: kind, fromNamespace: ns, toNamespace: toNs, name: b.name ?? '' }))) {
        problem = { reason: 'RefNotPermitted', message: `backendRef ${b.name}/${toNs} not accessible to a ${kind} in namespace "${ns}" (missing a ReferenceGrant?)` };
      } else if (!isService) {
        problem = { reason: 'InvalidKind', message: `referencing unsupported backendRef: group "${b.group ?? ''}" kind "${b.kind ?? ''}"` };
      } else if (!input.services.some((s) => s.metadata.namespace === toNs && s.metadata.name === b.name)) {
        problem = { reason: 'BackendNotFound', message: `backend(${b.name}.${toNs}.svc.${domain}) not found` };
      }
    }
  return problem
    ? { type: 'ResolvedRefs', status: 'False', ...problem, ...gen(route) }
    : { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved', ...gen(route) };
}

function listenersOf(gw: Gateway, input: MeshInput, cache: Map<Gateway, ResolvedListener[]>): ResolvedListener[] {
  let r = cache.get(gw);
  if (!r) cache.set(gw, (r = resolveIngressListeners(gw, { secrets: input.secrets ?? [], referenceGrants: input.referenceGrants ?? [] })));
  return r;
}

/** The `istio.io/gateway-controller` entries of a route's `status.parents`: one per parentRef naming an ingress Gateway. */
export function ingressRouteParentStatuses(route: KubeObject, input: MeshInput, domain = 'cluster.local'): RouteParentStatus[] {
  const ns = route.metadata.namespace!;
  const cache = new Map<Gateway, ResolvedListener[]>();
  const shape = routeShapeProblem(route);
  const resolvedRefs = ingressResolvedRefs(route, input, domain);
  const out: RouteParentStatus[] = [];
  const seen = new Set<string>();
  for (const p of objects<{ group?: string; kind?: string; namespace?: string; name?: string }>((route as { spec?: { parentRefs?: unknown } }).spec?.parentRefs)) {
    if ((p.group ?? 'gateway.networking.k8s.io') !== 'gateway.networking.k8s.io' || (p.kind ?? 'Gateway') !== 'Gateway') continue;
    const gw = input.gateways.find((g) => g.metadata.namespace === (p.namespace ?? ns) && g.metadata.name === p.name);
    if (!gw || !isIngressGateway(gw, input)) continue;
    for (const a of attachRoute(route, gw, listenersOf(gw, input, cache), input.namespaces)) {
      const key = JSON.stringify(a.parentRef);
      if (seen.has(key)) continue;
      seen.add(key);
      let accepted: Condition;
      if (a.denied) accepted = { type: 'Accepted', status: 'False', ...a.denied, ...gen(route) };
      else if (shape) accepted = { type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: shape.message, ...gen(route) };
      else accepted = { type: 'Accepted', status: 'True', reason: 'Accepted', message: a.listeners.length > 1 ? `Route was valid, bound to ${a.listeners.length} parents` : 'Route was valid', ...gen(route) };
      out.push({ parentRef: { ...a.parentRef }, controllerName: GATEWAY_CONTROLLER, conditions: [accepted, resolvedRefs] });
    }
  }
  return out;
}

/** `attachedRoutes` per listener of an ingress Gateway: routes accepted on it. */
export function ingressAttachedRoutes(gw: Gateway, input: MeshInput): Map<string, number> {
  const listeners = resolveIngressListeners(gw, { secrets: input.secrets ?? [], referenceGrants: input.referenceGrants ?? [] });
  const counts = new Map((gw.spec?.listeners ?? []).map((l) => [l.name, 0]));
  for (const route of [...(input.httpRoutes ?? []), ...(input.grpcRoutes ?? []), ...(input.tlsRoutes ?? [])]) {
    if (routeShapeProblem(route)) continue;
    for (const l of new Set(attachRoute(route, gw, listeners, input.namespaces).flatMap((a) => a.listeners))) counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  return counts;
}
