// Gateway API GRPCRoute (gateway.networking.k8s.io v1) for a waypoint. A gRPC call is an HTTP/2 POST to
// `/<service>/<method>` with content-type application/grpc, so a GRPCRoute rule is an HTTPRoute rule on that path:
//   method Exact, service and method    -> path Exact `/<service>/<method>`
//   method Exact, service only          -> path prefix `/<service>` (whole path elements: any method of it)
//   method Exact, method only           -> path RegularExpression `/[^/]+/<method>`
//   method RegularExpression            -> path RegularExpression `/<service or [^/]+>/<method or [^/]+>`
//   no method                           -> every call
// Header matches, weighted backendRefs and the filters GRPCRoute allows (RequestHeaderModifier,
// ResponseHeaderModifier, RequestMirror) carry over unchanged; parents (Service or this waypoint's Gateway),
// ports and the producer/consumer scoping are those of HTTPRoute (./httproute). Precedence follows the same
// ranking: an exact service+method match before a service match before a method-only or regular expression
// match, then the most header matches, then the oldest route.

import type { K8sObject, RequestContext, WaypointIdentity } from '@ambit/plugin-sdk';
import { checkGRPCRouteSpec } from '@ambit/mesh-api/routes';
import { compileHTTPRoutes, objectName, type BackendRef, type CompileEnv, type CompiledHTTPRoutes, type HTTPHeaderMatch, type HTTPRouteFilter, type HTTPRouteMatch, type HTTPRouteSpec, type ParentRef, type RefusedRoute } from './httproute.js';

export interface GRPCMethodMatch {
  type?: 'Exact' | 'RegularExpression';
  service?: string;
  method?: string;
}
export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: HTTPHeaderMatch[];
}
export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: BackendRef[];
}
export interface GRPCRouteSpec {
  parentRefs?: ParentRef[];
  hostnames?: string[];
  rules?: GRPCRouteRule[];
}

/** The filter types a GRPCRoute may carry that the waypoint applies. */
const GRPC_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror']);

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function grpcMatchToHTTP(m: GRPCRouteMatch): HTTPRouteMatch {
  const out: HTTPRouteMatch = { headers: m.headers };
  const { type = 'Exact', service, method } = m.method ?? {};
  if (type === 'RegularExpression') {
    if (service || method) out.path = { type: 'RegularExpression', value: `/(?:${service || '[^/]+'})/(?:${method || '[^/]+'})` };
  } else if (service && method) out.path = { type: 'Exact', value: `/${service}/${method}` };
  else if (service) out.path = { type: 'PathPrefix', value: `/${service}` };
  else if (method) out.path = { type: 'RegularExpression', value: `/[^/]+/${escapeRegex(method)}` };
  return out;
}

function filtersOf(filters: HTTPRouteFilter[] | undefined): HTTPRouteFilter[] | undefined {
  return filters?.filter((f) => GRPC_FILTERS.has(f.type));
}

/** The HTTPRoute a GRPCRoute amounts to (same metadata, kind GRPCRoute). */
export function grpcRouteToHTTP(route: K8sObject<GRPCRouteSpec>): K8sObject<HTTPRouteSpec> {
  const spec = route.spec ?? {};
  return {
    ...route,
    spec: {
      parentRefs: spec.parentRefs,
      hostnames: spec.hostnames,
      rules: (spec.rules ?? [{}]).map((r) => ({
        name: r.name,
        matches: r.matches?.map(grpcMatchToHTTP),
        filters: filtersOf(r.filters),
        backendRefs: r.backendRefs?.map((b) => ({ ...b, filters: filtersOf(b.filters) })),
      })),
    },
  };
}

/** GRPCRoutes in HTTPRoute form; one that cannot be compiled (its spec checked as a GRPCRoute's first) is left out alone. */
export function compileGRPCRoutes(routes: K8sObject<GRPCRouteSpec>[], waypoint: WaypointIdentity, env: CompileEnv): CompiledHTTPRoutes {
  const refused: RefusedRoute[] = [];
  const ok: Array<K8sObject<HTTPRouteSpec>> = [];
  for (const route of routes) {
    try {
      checkGRPCRouteSpec(route.spec);
      ok.push(grpcRouteToHTTP(route));
    } catch (err) {
      refused.push({ object: objectName('GRPCRoute', route), error: err instanceof Error ? err : new Error(String(err)) });
    }
  }
  const out = compileHTTPRoutes(ok, waypoint, env, 'GRPCRoute');
  out.refused.unshift(...refused);
  return out;
}

/** A gRPC request: content-type application/grpc, or application/grpc+<codec>. */
export function isGrpcRequest(ctx: RequestContext): boolean {
  const ct = ctx.request.headers['content-type'];
  const v = Array.isArray(ct) ? ct[0] : ct;
  return typeof v === 'string' && /^application\/grpc(?:$|[+;])/i.test(v);
}
