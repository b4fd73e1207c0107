// Istio VirtualService (networking.istio.io v1/v1beta1/v1alpha3) http routes and DestinationRule subsets and
// load balancer settings, compiled for a waypoint. Rules are evaluated in order; the first match wins.

import type { Backend, K8sObject, RequestContext } from '@ambit/plugin-sdk';
import { parseDuration } from '../common/strings.js';
import type { LbPolicy } from './lb.js';
import { fromMap, fullRegex, type HeaderOps, type MatchResult, type RouteAction, type RouteEntry } from './types.js';
import { checkVirtualServiceRoute } from '@ambit/mesh-api/routes';

export type StringMatch = { exact?: string; prefix?: string; regex?: string };

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  ignoreUriCase?: boolean;
}

export interface Headers {
  request?: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] };
  response?: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] };
}

export interface Destination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

export interface Percent {
  value?: number;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: Array<{ destination: Destination; weight?: number; headers?: Headers }>;
  redirect?: { uri?: string; authority?: string; port?: number; scheme?: string; redirectCode?: number };
  directResponse?: { status: number; body?: { string?: string } };
  rewrite?: { uri?: string; authority?: string };
  timeout?: string;
  retries?: { attempts?: number; perTryTimeout?: string; retryOn?: string };
  fault?: {
    delay?: { fixedDelay?: string; percentage?: Percent; percent?: number };
    abort?: { httpStatus?: number; percentage?: Percent };
  };
  mirror?: Destination;
  mirrorPercentage?: Percent;
  mirrors?: Array<{ destination: Destination; percentage?: Percent }>;
  headers?: Headers;
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  exportTo?: string[];
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}
export interface TrafficPolicy {
  loadBalancer?: { simple?: LbPolicy };
}
export interface DestinationRuleSpec {
  host: string;
  subsets?: Subset[];
  trafficPolicy?: TrafficPolicy;
}

/** `reviews` in namespace `default` -> `reviews.default.svc.cluster.local`. */
export function expandHost(host: string, ns: string, domain: string): string {
  if (host.includes('*')) return host;
  const dots = host.split('.').length - 1;
  if (dots === 0) return `${host}.${ns}.svc.${domain}`;
  if (dots === 1) return `${host}.svc.${domain}`;
  return host;
}

export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

function stringMatcher(m: StringMatch | undefined, ignoreCase = false): ((v: string | undefined) => MatchResult | undefined) | undefined {
  if (!m) return undefined;
  const norm = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  if (m.exact !== undefined) {
    const e = norm(m.exact);
    return (v) => (v !== undefined && norm(v) === e ? {} : undefined);
  }
  if (m.prefix !== undefined) {
    const p = norm(m.prefix);
    return (v) => (v !== undefined && norm(v).startsWith(p) ? { prefix: m.prefix } : undefined);
  }
  if (m.regex !== undefined) {
    const re = fullRegex(m.regex, ignoreCase ? 'i' : '');
    return (v) => (v !== undefined && re.test(v) ? {} : undefined);
  }
  // an empty StringMatch matches presence
  return (v) => (v !== undefined ? {} : undefined);
}

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.request.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
}

function compileMatch(m: HTTPMatchRequest, labelsOf: (ctx: RequestContext) => Record<string, string>): (ctx: RequestContext) => MatchResult | undefined {
  const uri = stringMatcher(m.uri, m.ignoreUriCase);
  const method = stringMatcher(m.method);
  const authority = stringMatcher(m.authority);
  const scheme = stringMatcher(m.scheme);
  const headers = Object.entries(m.headers ?? {}).map(([k, v]) => ({ k, f: stringMatcher(v)! }));
  const without = Object.entries(m.withoutHeaders ?? {}).map(([k, v]) => ({ k, f: stringMatcher(v)! }));
  const query = Object.entries(m.queryParams ?? {}).map(([k, v]) => ({ k, f: stringMatcher(v)! }));
  const srcLabels = Object.entries(m.sourceLabels ?? {});
  return (ctx) => {
    if (m.port !== undefined && ctx.destination.port !== m.port) return undefined;
    if (m.sourceNamespace !== undefined && ctx.source.namespace !== m.sourceNamespace) return undefined;
    if (method && !method(ctx.request.method)) return undefined;
    if (authority && !authority(ctx.request.authority)) return undefined;
    if (scheme && !scheme(ctx.request.scheme)) return undefined;
    for (const h of headers) if (!h.f(header(ctx, h.k))) return undefined;
    for (const h of without) if (h.f(header(ctx, h.k))) return undefined;
    for (const q of query) if (!q.f(ctx.request.query[q.k])) return undefined;
    if (srcLabels.length) {
      const l = labelsOf(ctx);
      if (!srcLabels.every(([k, v]) => l[k] === v)) return undefined;
    }
    return uri ? uri(ctx.request.path) : {};
  };
}

function ops(h: Headers['request'] | undefined): HeaderOps | undefined {
  return h ? { set: fromMap(h.set), add: fromMap(h.add), remove: h.remove } : undefined;
}

function mergeOps(a: HeaderOps | undefined, b: HeaderOps | undefined): HeaderOps | undefined {
  if (!a) return b;
  if (!b) return a;
  return { set: [...(a.set ?? []), ...(b.set ?? [])], add: [...(a.add ?? []), ...(b.add ?? [])], remove: [...(a.remove ?? []), ...(b.remove ?? [])] };
}

const pct = (p: Percent | undefined, legacy?: number) => p?.value ?? legacy ?? 100;

export interface VsCompileEnv {
  domain: string;
  /** The backend for a destination (host expanded, subset labels from DestinationRules). */
  backend(d: Destination, vsNs: string, defaultPort: number | undefined): Backend | undefined;
  labelsOf(ctx: RequestContext): Record<string, string>;
}

export function compileVirtualServiceRoute(vs: K8sObject<VirtualServiceSpec>, r: HTTPRoute, env: VsCompileEnv, idx: number): RouteEntry {
  checkVirtualServiceRoute(r, `http[${idx}]`);
  const ns = vs.metadata.namespace ?? 'default';
  const matches = (r.match?.length ? r.match : [{}]).map((m) => compileMatch(m, env.labelsOf));
  const action: RouteAction = { backends: [], emptyStatus: 500 };
  action.requestHeaders = ops(r.headers?.request);
  action.responseHeaders = ops(r.headers?.response);
  if (r.redirect) {
    const rd = r.redirect;
    action.redirect = (ctx) => {
      const scheme = rd.scheme ?? ctx.request.scheme;
      const auth = rd.authority ?? ctx.request.authority;
      const host = rd.port ? `${auth.replace(/:\d+$/, '')}:${rd.port}` : auth;
      const path = rd.uri ?? ctx.request.path;
      return { location: `${scheme}://${host}${path}${ctx.request.rawQuery ? '?' + ctx.request.rawQuery : ''}`, status: rd.redirectCode ?? 301 };
    };
  }
  if (r.directResponse) action.directResponse = { status: r.directResponse.status, body: r.directResponse.body?.string ?? '' };
  if (r.rewrite) {
    const rw = r.rewrite;
    action.rewrite = (ctx, m) => {
      let path: string | undefined;
      if (rw.uri !== undefined) {
        path = m.prefix !== undefined ? rw.uri + ctx.request.path.slice(m.prefix.length) : rw.uri;
        if (path === '') path = '/';
        if (ctx.request.rawQuery) path += '?' + ctx.request.rawQuery;
      }
      return { path, authority: rw.authority };
    };
  }
  const weighted = r.route ?? [];
  const anyWeight = weighted.some((d) => d.weight !== undefined);
  for (const d of weighted) {
    const backend = env.backend(d.destination, ns, undefined);
    action.backends.push({
      backend,
      invalid: backend ? undefined : `destination ${d.destination.host} not found`,
      weight: weighted.length === 1 ? 1 : anyWeight ? d.weight ?? 0 : 1,
      requestHeaders: ops(d.headers?.request),
      responseHeaders: ops(d.headers?.response),
    });
  }
  action.timeoutMs = parseDuration(r.timeout);
  if (r.retries) {
    action.retries = {
      attempts: r.retries.attempts ?? 2,
      perTryTimeoutMs: parseDuration(r.retries.perTryTimeout),
      retryOn: (r.retries.retryOn ?? 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes').split(',').map((s) => s.trim()),
      retriableStatusCodes: [503],
    };
  }
  if (r.fault) {
    action.fault = {
      delayMs: parseDuration(r.fault.delay?.fixedDelay),
      delayPercent: pct(r.fault.delay?.percentage, r.fault.delay?.percent),
      abortStatus: r.fault.abort?.httpStatus,
      abortPercent: pct(r.fault.abort?.percentage),
    };
  }
  const mirrors = [...(r.mirror ? [{ destination: r.mirror, percentage: r.mirrorPercentage }] : []), ...(r.mirrors ?? [])];
  for (const m of mirrors) {
    const b = env.backend(m.destination, ns, undefined);
    if (b) (action.mirrors ??= []).push({ backend: b, percent: pct(m.percentage) });
  }
  return {
    name: `VirtualService/${ns}/${vs.metadata.name}${r.name ? '/' + r.name : `/${idx}`}`,
    action,
    match: (ctx) => {
      for (const m of matches) {
        const res = m(ctx);
        if (res) return res;
      }
      return undefined;
    },
  };
}

export { mergeOps };
