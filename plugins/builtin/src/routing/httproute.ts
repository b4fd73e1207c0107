// Gateway API HTTPRoute (gateway.networking.k8s.io v1) compiled for a waypoint: parentRefs to a Service (GAMMA)
// or to the waypoint Gateway; matches (path Exact/PathPrefix/RegularExpression, headers, queryParams, method),
// backendRefs with weights, filters, timeouts. Rules across routes of one parent are ordered by the spec's
// precedence: exact path, longest prefix, method, most header matches, most query matches, oldest route.
// Mesh routes (Service parents, GEP-1294) apply per Service port (`parentRef.port`, else every port) and per client
// namespace: a consumer route (route namespace != Service namespace) only to clients of its own namespace, ahead of
// the producer routes (the Service's own namespace) that every other client gets. Their backendRefs may name
// Services of any namespace without a ReferenceGrant; routes on the waypoint Gateway still need one.

import type { K8sObject, MeshStateReader, RequestContext, WaypointIdentity } from '@ambit/plugin-sdk';
import { parseDuration } from '../common/strings.js';
import { fromMap, fullRegex, type HeaderOps, type MatchResult, type RouteAction, type RouteEntry, type WeightedBackend } from './types.js';
import { checkHTTPRouteSpec } from '@ambit/mesh-api/routes';
import { compileOrError, type CompileCache } from './compile-cache.js';
import { compileCors, type HTTPCORSFilter } from './cors.js';

const GW_GROUP = 'gateway.networking.k8s.io';

export interface HTTPPathMatch {
  type?: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value?: string;
}
export interface HTTPHeaderMatch {
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}
export interface HTTPRouteMatch {
  path?: HTTPPathMatch;
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPHeaderMatch[];
  method?: string;
}
export interface HeaderModifier {
  set?: Array<{ name: string; value: string }>;
  add?: Array<{ name: string; value: string }>;
  remove?: string[];
}
export interface PathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}
export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HTTPRouteFilter[];
}
export interface HTTPRouteFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestRedirect' | 'URLRewrite' | 'RequestMirror' | 'ExtensionRef' | 'CORS';
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
  requestRedirect?: { scheme?: string; hostname?: string; path?: PathModifier; port?: number; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: PathModifier };
  requestMirror?: { backendRef: BackendRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
  cors?: HTTPCORSFilter;
}
export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { attempts?: number; backoff?: string; codes?: number[] };
}
export interface ParentRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
}
export interface HTTPRouteSpec {
  parentRefs?: ParentRef[];
  hostnames?: string[];
  rules?: HTTPRouteRule[];
}

/** Where a route attaches at this waypoint. */
export type Parent = { kind: 'service'; namespace: string; name: string; port?: number } | { kind: 'gateway' };

export function routeParents(route: K8sObject<HTTPRouteSpec>, waypoint: WaypointIdentity): Parent[] {
  const ns = route.metadata.namespace ?? 'default';
  const out: Parent[] = [];
  for (const p of route.spec?.parentRefs ?? []) {
    const group = p.group ?? GW_GROUP;
    const kind = p.kind ?? 'Gateway';
    const pns = p.namespace ?? ns;
    if (kind === 'Service' && (group === '' || group === 'core')) out.push({ kind: 'service', namespace: pns, name: p.name, port: p.port });
    else if (kind === 'Gateway' && group === GW_GROUP && p.name === waypoint.name && pns === waypoint.namespace) out.push({ kind: 'gateway' });
  }
  return out;
}

function pathMatcher(m: HTTPPathMatch | undefined): (path: string) => MatchResult | undefined {
  const type = m?.type ?? 'PathPrefix';
  const value = m?.value ?? '/';
  if (type === 'Exact') return (p) => (p === value ? {} : undefined);
  if (type === 'RegularExpression') {
    const re = fullRegex(value);
    return (p) => (re.test(p) ? {} : undefined);
  }
  // PathPrefix matches whole path elements: /foo matches /foo, /foo/ and /foo/bar, not /foobar.
  const prefix = value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
  if (prefix === '/') return () => ({ prefix: '/' });
  return (p) => (p === prefix || p.startsWith(prefix + '/') ? { prefix } : undefined);
}

function valueMatcher(m: HTTPHeaderMatch): (v: string | undefined) => boolean {
  if (m.type === 'RegularExpression') {
    const re = fullRegex(m.value);
    return (v) => v !== undefined && re.test(v);
  }
  return (v) => v === m.value;
}

function compileMatch(m: HTTPRouteMatch): (ctx: RequestContext) => MatchResult | undefined {
  const path = pathMatcher(m.path);
  const headers = (m.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), f: valueMatcher(h) }));
  const query = (m.queryParams ?? []).map((q) => ({ name: q.name, f: valueMatcher(q) }));
  const method = m.method;
  return (ctx) => {
    if (method && ctx.request.method !== method) return undefined;
    for (const h of headers) {
      const v = ctx.request.headers[h.name];
      if (!h.f(Array.isArray(v) ? v.join(',') : v)) return undefined;
    }
    for (const q of query) if (!q.f(ctx.request.query[q.name])) return undefined;
    return path(ctx.request.path);
  };
}

function rank(m: HTTPRouteMatch): [number, number, number, number, number] {
  const type = m.path?.type ?? 'PathPrefix';
  const r = type === 'Exact' ? 3 : type === 'RegularExpression' ? 1 : 2;
  return [r, (m.path?.value ?? '/').length, m.method ? 1 : 0, m.headers?.length ?? 0, m.queryParams?.length ?? 0];
}

function modify(path: PathModifier, m: MatchResult, ctx: RequestContext): string {
  let p: string;
  if (path.type === 'ReplaceFullPath') p = path.replaceFullPath ?? '/';
  else {
    const prefix = m.prefix ?? '/';
    const rest = prefix === '/' ? ctx.request.path.slice(1) : ctx.request.path.slice(prefix.length).replace(/^\//, '');
    const rep = path.replacePrefixMatch ?? '/';
    p = rest ? (rep.endsWith('/') ? rep + rest : `${rep}/${rest}`) : rep;
  }
  return p;
}

function withQuery(path: string, ctx: RequestContext): string {
  return ctx.request.rawQuery ? `${path}?${ctx.request.rawQuery}` : path;
}

function hostname(authority: string): string {
  const i = authority.lastIndexOf(':');
  return i > 0 && !authority.endsWith(']') ? authority.slice(0, i) : authority;
}

function headerOps(h: HeaderModifier | undefined): HeaderOps | undefined {
  return h ? { set: h.set, add: h.add, remove: h.remove } : undefined;
}

export interface CompileEnv {
  mesh: MeshStateReader;
  /** Is a reference from an HTTPRoute in `fromNs` to Service `name` in `toNs` granted (ReferenceGrant)? Gateway-bound routes only. */
  granted(fromNs: string, toNs: string, name: string): boolean;
  domain: string;
  /**
   * Where each route attaches, when the caller decided it already (an ingress listener's routes, which the
   * controller accepted on it: all of them count as bound to the gateway). Default: from their parentRefs.
   */
  parentsOf?(route: K8sObject<HTTPRouteSpec>): Parent[];
}

/** How a rule's references are checked: mesh routes (Service parents) need no ReferenceGrant (GEP-1294). */
interface RefPolicy {
  needsGrant: boolean;
}

function serviceBackend(ref: BackendRef, routeNs: string, env: CompileEnv, refs: RefPolicy): { backend?: WeightedBackend['backend']; invalid?: string } {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (kind !== 'Service' || (group !== '' && group !== 'core')) return { invalid: `unsupported backend kind ${group}/${kind}` };
  const ns = ref.namespace ?? routeNs;
  if (ns !== routeNs && refs.needsGrant && !env.granted(routeNs, ns, ref.name)) return { invalid: `backend ${ns}/${ref.name} not permitted by any ReferenceGrant` };
  const svc = env.mesh.serviceByName(ns, ref.name);
  if (!svc) return { invalid: `backend ${ns}/${ref.name} not found` };
  if (ref.port === undefined) return { invalid: `backend ${ns}/${ref.name} needs a port` };
  return { backend: { service: { hostname: svc.hostname, namespace: ns, name: svc.name, port: ref.port } } };
}

function compileRule(route: K8sObject<HTTPRouteSpec>, rule: HTTPRouteRule, env: CompileEnv, refs: RefPolicy): RouteAction {
  const ns = route.metadata.namespace ?? 'default';
  const action: RouteAction = { backends: [], emptyStatus: 500 };
  let rewrite: NonNullable<HTTPRouteFilter['urlRewrite']> | undefined;
  for (const f of rule.filters ?? []) {
    switch (f.type) {
      case 'RequestHeaderModifier':
        action.requestHeaders = headerOps(f.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        action.responseHeaders = headerOps(f.responseHeaderModifier);
        break;
      case 'RequestRedirect': {
        const r = f.requestRedirect ?? {};
        action.redirect = (ctx, m) => {
          const scheme = r.scheme ?? ctx.request.scheme;
          const host = r.hostname ?? hostname(ctx.request.authority);
          const defaultPort = scheme === 'https' ? 443 : 80;
          let port = r.port;
          if (port === undefined && !r.scheme) {
            const i = ctx.request.authority.lastIndexOf(':');
            port = i > 0 ? Number(ctx.request.authority.slice(i + 1)) : undefined;
          }
          const portPart = port && port !== defaultPort ? `:${port}` : '';
          const path = r.path ? modify(r.path, m, ctx) : ctx.request.path;
          return { location: `${scheme}://${host}${portPart}${withQuery(path, ctx)}`, status: r.statusCode ?? 302 };
        };
        break;
      }
      case 'URLRewrite':
        rewrite = f.urlRewrite;
        break;
      case 'RequestMirror': {
        const mref = f.requestMirror!;
        const b = serviceBackend(mref.backendRef, ns, env, refs);
        const percent = mref.percent ?? (mref.fraction ? (100 * mref.fraction.numerator) / (mref.fraction.denominator ?? 100) : undefined);
        if (b.backend) (action.mirrors ??= []).push({ backend: b.backend, percent });
        break;
      }
      case 'CORS':
        if (f.cors) action.cors = compileCors(f.cors);
        break;
      default:
        break;
    }
  }
  if (rewrite) {
    const rw = rewrite;
    action.rewrite = (ctx, m) => ({
      path: rw.path ? withQuery(modify(rw.path, m, ctx), ctx) : undefined,
      authority: rw.hostname,
    });
  }
  for (const ref of rule.backendRefs ?? []) {
    const b = serviceBackend(ref, ns, env, refs);
    const wb: WeightedBackend = { ...b, weight: ref.weight ?? 1 };
    for (const f of ref.filters ?? []) {
      if (f.type === 'RequestHeaderModifier') wb.requestHeaders = headerOps(f.requestHeaderModifier);
      if (f.type === 'ResponseHeaderModifier') wb.responseHeaders = headerOps(f.responseHeaderModifier);
    }
    action.backends.push(wb);
  }
  action.timeoutMs = parseDuration(rule.timeouts?.request);
  const backendTimeout = parseDuration(rule.timeouts?.backendRequest);
  if (rule.retry) {
    action.retries = {
      attempts: rule.retry.attempts ?? 1,
      perTryTimeoutMs: backendTimeout,
      retryOn: ['connect-failure', 'refused-stream', 'retriable-status-codes'],
      retriableStatusCodes: rule.retry.codes ?? [500, 502, 503, 504],
    };
  } else if (backendTimeout) {
    action.retries = { attempts: 0, perTryTimeoutMs: backendTimeout, retryOn: [] };
  }
  return action;
}

function hostnameMatcher(hostnames: string[] | undefined): ((ctx: RequestContext) => boolean) | undefined {
  if (!hostnames?.length) return undefined;
  const hs = hostnames.map((h) => h.toLowerCase());
  return (ctx) => {
    const host = hostname(ctx.request.authority).toLowerCase();
    return hs.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) : host === h));
  };
}

/** A rule of a route whose parent is a Service: which route namespace it comes from and which port it binds. */
export interface ServiceRouteEntry {
  entry: RouteEntry;
  /** The route's namespace: the Service's own (producer route) or another (consumer route). */
  namespace: string;
  /** `parentRef.port`; undefined: every port of the Service. */
  port?: number;
}

export interface CompiledHTTPRoutes {
  /** `ns/name` of a Service -> its rules, in precedence order; {@link serviceRules} picks the ones for a request. */
  byService: Map<string, ServiceRouteEntry[]>;
  /** Rules attached to the waypoint Gateway itself. */
  gateway: RouteEntry[];
  /** Routes left out because they cannot be compiled (each alone: the others compile as if it did not exist). */
  refused: RefusedRoute[];
}

/** A route the waypoint cannot compile, and why (a RouteShapeError names the field). */
export interface RefusedRoute {
  /** `<kind> <namespace>/<name>`. */
  object: string;
  error: Error;
}

/** `<kind> <namespace>/<name>` of a route, as logs name it. */
export function objectName(kind: string, route: K8sObject): string {
  return `${kind} ${route.metadata.namespace ?? 'default'}/${route.metadata.name}`;
}

/** A route's rules as compiled, before they are ranked against the other routes' (see {@link compileHTTPRoutes}). */
export type RankedRule = { entry: RouteEntry; rank: number[]; parent: Parent; namespace: string };

/**
 * `kind` names the rules (`<kind>/ns/name`): GRPCRoutes compile here too, once in HTTPRoute form (./grpcroute).
 * With `cache`, a route object compiled before (under the same stamp) is not compiled again.
 */
export function compileHTTPRoutes(routes: K8sObject<HTTPRouteSpec>[], waypoint: WaypointIdentity, env: CompileEnv, kind = 'HTTPRoute', cache?: CompileCache<RankedRule[]>): CompiledHTTPRoutes {
  const ranked: Array<RankedRule & { order: number }> = [];
  const refused: RefusedRoute[] = [];
  let order = 0;
  for (const route of routes) {
    const compiled = cache ? cache.get(route, compileRoute) : compileOrError(route, compileRoute);
    // A route that cannot be compiled is left out alone (its Services get their other routes or default routing).
    if (compiled instanceof Error) refused.push({ object: objectName(kind, route), error: compiled });
    else for (const r of compiled) ranked.push({ ...r, order: order++ });
  }
  function compileRoute(route: K8sObject<HTTPRouteSpec>): RankedRule[] {
    const ranked: RankedRule[] = [];
    checkHTTPRouteSpec(route.spec);
    const parents = env.parentsOf ? env.parentsOf(route) : routeParents(route, waypoint);
    if (parents.length === 0) return ranked;
    const namespace = route.metadata.namespace ?? 'default';
    const name = `${kind}/${namespace}/${route.metadata.name}`;
    const hosts = hostnameMatcher(route.spec?.hostnames);
    for (const rule of route.spec?.rules ?? [{}]) {
      // One action per kind of parent: a route may have both, and only the Gateway-bound one checks grants.
      const actions = new Map<boolean, RouteAction>();
      const actionFor = (needsGrant: boolean): RouteAction => {
        let a = actions.get(needsGrant);
        if (!a) actions.set(needsGrant, (a = compileRule(route, rule, env, { needsGrant })));
        return a;
      };
      const matches = rule.matches?.length ? rule.matches : [{}];
      for (const m of matches) {
        const f = compileMatch(m);
        for (const parent of parents) {
          const entry: RouteEntry = {
            name,
            action: actionFor(parent.kind === 'gateway'),
            match: parent.kind === 'gateway' && hosts ? (ctx) => (hosts(ctx) ? f(ctx) : undefined) : f,
          };
          ranked.push({ entry, rank: rank(m), parent, namespace });
        }
      }
    }
    return ranked;
  }
  // routes arrive oldest first (ResourceReader order), so `order` breaks ties as the spec asks.
  ranked.sort((a, b) => {
    for (let i = 0; i < a.rank.length; i++) if (a.rank[i] !== b.rank[i]) return b.rank[i]! - a.rank[i]!;
    return a.order - b.order;
  });
  const out: CompiledHTTPRoutes = { byService: new Map(), gateway: [], refused };
  for (const r of ranked) {
    if (r.parent.kind === 'gateway') out.gateway.push(r.entry);
    else {
      const key = `${r.parent.namespace}/${r.parent.name}`;
      const list = out.byService.get(key) ?? [];
      list.push({ entry: r.entry, namespace: r.namespace, port: r.parent.port });
      out.byService.set(key, list);
    }
  }
  return out;
}

/**
 * The mesh rules for a request to Service `svc` on `port` from a client in `clientNamespace` (GEP-1294): routes
 * bound to that port (or to every port); of those, the consumer routes of the client's namespace if any, else the
 * producer routes. Empty: no route applies, and the Service's default routing does.
 */
export function serviceRules(compiled: CompiledHTTPRoutes, svc: { namespace: string; name: string }, port: number, clientNamespace: string | undefined): RouteEntry[] {
  const onPort = (compiled.byService.get(`${svc.namespace}/${svc.name}`) ?? []).filter((r) => r.port === undefined || r.port === port);
  const consumer = clientNamespace && clientNamespace !== svc.namespace ? onPort.filter((r) => r.namespace === clientNamespace) : [];
  const chosen = consumer.length ? consumer : onPort.filter((r) => r.namespace === svc.namespace);
  return chosen.map((r) => r.entry);
}

export { fromMap };
