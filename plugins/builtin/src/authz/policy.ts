// AuthorizationPolicy (security.istio.io v1/v1beta1) compiled into request predicates, with Envoy RBAC's
// semantics for a waypoint: see authz.ts for the evaluation order.

import type { RequestContext } from '@ambit/plugin-sdk';
import { CidrSet } from '@ambit/mesh-api/plumbing';
import type {
  AuthorizationAction,
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicySpec,
  AuthorizationRule,
  AuthorizationSource,
} from '@ambit/mesh-api';
import { anyNone, istioStringMatch, type StringPredicate } from '../common/strings.js';

// The spec's types are declared once, in the mesh contract; the names below are this module's own.
export type Action = AuthorizationAction;
export type Source = AuthorizationSource;
export type Operation = AuthorizationOperation;
export type Condition = AuthorizationCondition;
export type Rule = AuthorizationRule;
export type { AuthorizationPolicySpec };

type Pred = (ctx: RequestContext) => boolean;

/** State key where an AUTHN plugin (RequestAuthentication) puts the JWT principal `iss/sub`. */
export const REQUEST_PRINCIPAL = 'istio.request.auth.principal';
/** State key for the JWT claims object. */
export const REQUEST_CLAIMS = 'istio.request.auth.claims';

const stripSpiffe = (p: string | undefined) => (p?.startsWith('spiffe://') ? p.slice(9) : p);
const requestPrincipal = (ctx: RequestContext) => ctx.state.get(REQUEST_PRINCIPAL) as string | undefined;

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.request.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * The original client IP: what the runtime computed from the source address and the X-Forwarded-For hops it
 * trusts (Istio's `numTrustedProxies`, default 0), never the header on its own word.
 */
export function remoteIp(ctx: RequestContext): string {
  return ctx.source.remoteAddress ?? ctx.source.address;
}

function hostOnly(authority: string): string {
  return authority;
}

function field(get: (ctx: RequestContext) => string | undefined, f: StringPredicate | undefined): Pred | undefined {
  return f ? (ctx) => f(get(ctx)) : undefined;
}

function ipField(get: (ctx: RequestContext) => string | undefined, pos?: string[], neg?: string[]): Pred | undefined {
  if (!pos?.length && !neg?.length) return undefined;
  const p = pos?.length ? new CidrSet(pos) : undefined;
  const n = neg?.length ? new CidrSet(neg) : undefined;
  return (ctx) => {
    const ip = get(ctx);
    return (!p || p.has(ip)) && !(n && n.has(ip));
  };
}

const and = (preds: Array<Pred | undefined>): Pred => {
  const ps = preds.filter((p): p is Pred => p !== undefined);
  if (ps.length === 0) return () => true;
  if (ps.length === 1) return ps[0]!;
  return (ctx) => ps.every((p) => p(ctx));
};
const or = (preds: Pred[]): Pred => (preds.length === 1 ? preds[0]! : (ctx) => preds.some((p) => p(ctx)));

function compileSource(s: Source, policyNs: string): Pred {
  const sa = (v: string) => (v.includes('/') ? v : `${policyNs}/${v}`);
  return and([
    field((c) => stripSpiffe(c.source.principal), anyNone(s.principals, s.notPrincipals, (p) => istioStringMatch(stripSpiffe(p)!))),
    field(requestPrincipal, anyNone(s.requestPrincipals, s.notRequestPrincipals, (p) => istioStringMatch(p))),
    field((c) => c.source.namespace, anyNone(s.namespaces, s.notNamespaces, (p) => istioStringMatch(p))),
    field(
      (c) => (c.source.namespace && c.source.serviceAccount ? `${c.source.namespace}/${c.source.serviceAccount}` : undefined),
      anyNone(s.serviceAccounts?.map(sa), s.notServiceAccounts?.map(sa), (p) => istioStringMatch(p)),
    ),
    ipField((c) => c.source.address, s.ipBlocks, s.notIpBlocks),
    ipField(remoteIp, s.remoteIpBlocks, s.notRemoteIpBlocks),
  ]);
}

function hostMatch(pattern: string): StringPredicate {
  // Hosts compare case-insensitively; a pattern without a port also matches the host with any port.
  const m = istioStringMatch(pattern, true);
  return (v) => {
    if (v === undefined) return false;
    if (m(v)) return true;
    const i = v.lastIndexOf(':');
    return i > 0 && !v.endsWith(']') && m(v.slice(0, i));
  };
}

function compileOperation(o: Operation): Pred {
  const portSet = (list: string[] | undefined) => list?.map((p) => istioStringMatch(String(p)));
  const ports = anyNone(portSet(o.ports), portSet(o.notPorts), (f) => f);
  return and([
    field((c) => hostOnly(c.request.authority), anyNone(o.hosts, o.notHosts, hostMatch)),
    ports ? (c) => ports(String(c.destination.port)) : undefined,
    field((c) => c.request.method, anyNone(o.methods, o.notMethods, (p) => istioStringMatch(p))),
    field((c) => c.request.path, anyNone(o.paths, o.notPaths, (p) => istioStringMatch(p))),
  ]);
}

const L4_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);

function conditionGetter(key: string): ((ctx: RequestContext) => string | undefined) | undefined {
  const hdr = /^request\.headers\[(.+)\]$/.exec(key);
  if (hdr) return (c) => header(c, hdr[1]!);
  const claim = /^request\.auth\.claims\[(.+)\]$/.exec(key);
  if (claim) {
    const path = claim[1]!.split('][');
    return (c) => {
      let v: unknown = c.state.get(REQUEST_CLAIMS);
      for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
      return v === undefined ? undefined : Array.isArray(v) ? v.join(',') : String(v);
    };
  }
  switch (key) {
    case 'source.ip':
      return (c) => c.source.address;
    case 'remote.ip':
      return remoteIp;
    case 'source.namespace':
      return (c) => c.source.namespace;
    case 'source.principal':
      return (c) => stripSpiffe(c.source.principal);
    case 'source.serviceAccount':
      return (c) => (c.source.namespace ? `${c.source.namespace}/${c.source.serviceAccount}` : undefined);
    case 'destination.ip':
      return (c) => c.destination.address;
    case 'destination.port':
      return (c) => String(c.destination.port);
    case 'connection.sni':
      return (c) => c.destination.service?.hostname;
    case 'request.auth.principal':
      return requestPrincipal;
    case 'request.auth.audiences':
    case 'request.auth.presenter':
      return (c) => {
        const claims = c.state.get(REQUEST_CLAIMS) as Record<string, unknown> | undefined;
        const v = claims?.[key === 'request.auth.audiences' ? 'aud' : 'azp'];
        return v === undefined ? undefined : String(v);
      };
    default:
      return undefined;
  }
}

function compileCondition(w: Condition): Pred {
  const get = conditionGetter(w.key);
  if (!get) throw new Error(`unknown attribute ${JSON.stringify(w.key)} in when`);
  const ip = w.key === 'source.ip' || w.key === 'remote.ip' || w.key === 'destination.ip';
  if (ip) return ipField(get, w.values, w.notValues) ?? (() => true);
  if (!w.values?.length && !w.notValues?.length) throw new Error(`when ${JSON.stringify(w.key)} has no values`);
  return field(get, anyNone(w.values, w.notValues, (p) => istioStringMatch(p)))!;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const SOURCE_LISTS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const OPERATION_LISTS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

function listOf(v: unknown, path: string, what: 'strings' | 'objects' | 'ports'): unknown[] {
  if (v === undefined || v === null) return [];
  const ok = (x: unknown) => (what === 'objects' ? isObject(x) : typeof x === 'string' || (what === 'ports' && Number.isInteger(x)));
  if (!Array.isArray(v) || !v.every(ok)) throw new Error(`${path}: expected a list of ${what === 'ports' ? 'strings' : what}`);
  return v;
}

/** Throws an Error naming the first field that is not of the type the spec declares (the rule then fails closed). */
function checkRule(r: unknown): asserts r is Rule {
  if (!isObject(r)) throw new Error('a rule must be an object');
  for (const [i, f] of listOf(r.from, 'from', 'objects').entries()) {
    const s = (f as Record<string, unknown>).source;
    if (s === undefined || s === null) continue;
    if (!isObject(s)) throw new Error(`from[${i}].source: expected an object`);
    for (const k of SOURCE_LISTS) listOf(s[k], `from[${i}].source.${k}`, 'strings');
  }
  for (const [i, t] of listOf(r.to, 'to', 'objects').entries()) {
    const o = (t as Record<string, unknown>).operation;
    if (o === undefined || o === null) continue;
    if (!isObject(o)) throw new Error(`to[${i}].operation: expected an object`);
    for (const k of OPERATION_LISTS) listOf(o[k], `to[${i}].operation.${k}`, 'strings');
    for (const k of ['ports', 'notPorts'] as const) listOf(o[k], `to[${i}].operation.${k}`, 'ports');
  }
  for (const [i, w] of listOf(r.when, 'when', 'objects').entries()) {
    const c = w as Record<string, unknown>;
    if (typeof c.key !== 'string') throw new Error(`when[${i}].key: expected a string`);
    for (const k of ['values', 'notValues'] as const) listOf(c[k], `when[${i}].${k}`, 'strings');
  }
}

/** A rule: (any from) AND (any to) AND (all when). A missing or empty list matches anything. */
export function compileRule(r: Rule, policyNs: string): Pred {
  checkRule(r);
  const from = (r.from ?? []).map((f) => compileSource(f.source ?? {}, policyNs));
  const to = (r.to ?? []).map((t) => compileOperation(t.operation ?? {}));
  const when = (r.when ?? []).map(compileCondition);
  return and([from.length ? or(from) : undefined, to.length ? or(to) : undefined, ...when]);
}

export interface CompiledPolicy {
  key: string;
  namespace: string;
  name: string;
  action: Action;
  dryRun: boolean;
  /** True if any rule matches. A policy without rules matches nothing (ALLOW: allow-nothing). */
  matches: Pred;
  appliesTo: Pred;
  /** A compile problem (invalid rule): the rule fails closed (see compilePolicy). */
  problems: string[];
}

/**
 * Compile rules. An invalid rule (unknown `when` key, bad CIDR) fails closed as Istio does: in an ALLOW
 * policy it never matches, in a DENY (or CUSTOM) policy it matches every request.
 */
export function compilePolicyRules(rules: Rule[] | undefined, action: Action, policyNs: string, problems: string[]): Pred {
  const preds: Pred[] = [];
  const failClosed = () => {
    if (action === 'DENY' || action === 'CUSTOM') preds.push(() => true);
  };
  if (rules !== undefined && rules !== null && !Array.isArray(rules)) {
    problems.push('rules: expected a list');
    failClosed();
  }
  for (const r of Array.isArray(rules) ? rules : []) {
    try {
      preds.push(compileRule(r ?? {}, policyNs));
    } catch (err) {
      problems.push((err as Error).message);
      failClosed();
    }
  }
  if (preds.length === 0) return () => false;
  return or(preds);
}

export { L4_KEYS };
