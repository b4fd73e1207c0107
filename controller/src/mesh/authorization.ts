// istiod's AuthorizationPolicy → ztunnel Authorization conversion (ambient), with its status warnings.
import {
  isEmptyMatch,
  parseCidr,
  type Authorization,
  type AuthorizationPolicySpec,
  type AuthorizationRule,
  type Match,
  type ServiceAccountMatch,
  type StringMatch,
} from '@ambit/mesh-api';
import type { KubeObject } from '../kube/resources.js';

/** A security.istio.io AuthorizationPolicy as the informers hold it, with the parts of its spec the conversion reads. */
export interface AuthorizationPolicy extends KubeObject {
  spec?: AuthorizationPolicySpec;
}

export type { AuthorizationPolicySpec, AuthorizationRule };

export interface ConversionWarning {
  reason: string;
  message: string;
}

export interface ConversionResult {
  /** Undefined when the policy is not for ztunnel (targetRefs) or cannot be converted (AUDIT/CUSTOM, dry-run disabled). */
  authorization?: Authorization;
  warnings: ConversionWarning[];
}

const L4_WHEN_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);

const HTTP_RULE = (found: string, tail: string) =>
  `ztunnel does not support HTTP attributes (found: ${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ${tail}`;
const DENY_NO_EFFECT =
  'After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.';
const DENY_MIXED = 'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';
const ALLOW_DROPPED = 'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';

function stringMatches(values: string[] | undefined): StringMatch[] {
  return (values ?? []).map((v) => {
    if (v === '*') return { Presence: [] };
    if (v.startsWith('*')) return { Suffix: v.slice(1) };
    if (v.endsWith('*')) return { Prefix: v.slice(0, -1) };
    return { Exact: v };
  });
}

function ports(values: string[] | undefined): number[] {
  const out: number[] = [];
  for (const v of values ?? []) {
    if (!/^\d+$/.test(v)) continue;
    const n = Number(v);
    if (n <= 65535) out.push(n);
  }
  return out;
}

/**
 * Normalised CIDRs (a bare address becomes a /32 or /128). A list with a malformed block is reported to `invalid`
 * and yields no constraint at all: the caller drops an ALLOW rule that has one (so a typo never widens it into "any
 * address"), and a DENY rule without the constraint denies more, never less, than was asked.
 */
function ips(values: string[] | undefined, invalid?: string[]): string[] {
  const out: string[] = [];
  let bad = false;
  for (const v of values ?? []) {
    if (!v) continue;
    if (!parseCidr(v)) {
      invalid?.push(v);
      bad = true;
      continue;
    }
    const [addr, len] = v.split('/');
    out.push(`${addr}/${len ?? (addr!.includes(':') ? 128 : 32)}`);
  }
  return bad ? [] : out;
}

function serviceAccounts(values: string[] | undefined, ns: string): ServiceAccountMatch[] {
  return (values ?? []).map((v) => {
    const i = v.indexOf('/');
    return i >= 0 ? { namespace: v.slice(0, i), serviceAccount: v.slice(i + 1) } : { namespace: ns, serviceAccount: v };
  });
}

/** Drops empty arrays so matches print like ztunnel's (skip_serializing_if empty). */
function compact(m: Match): Match {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (Array.isArray(v) && v.length > 0) out[k] = v;
  return out as Match;
}

const nonEmpty = (...xs: (unknown[] | undefined)[]) => xs.some((x) => (x?.length ?? 0) > 0);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A list of strings as the spec declares it. Anything else (not a list, an item that is not a string) is named in
 * `malformed` and read as absent: the caller then fails closed as for a malformed IP block (see `ips`).
 */
function strings(v: unknown, path: string, malformed: string[], numbers = false): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || (numbers && Number.isInteger(x)))) return v.map(String);
  malformed.push(path);
  return undefined;
}

/** A list of objects (`from`, `to`, `when`); false when it is not one, or one of its items is not an object. */
function objects(v: unknown, path: string, malformed: string[]): Record<string, unknown>[] | false {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v) && v.every(isObject)) return v;
  malformed.push(path);
  return false;
}

function handleRule(action: 'Allow' | 'Deny', rule: unknown, ns: string, path: string): { clauses: Match[][] | null; l7: string[]; invalid: string[]; malformed: string[] } {
  const l7: string[] = [];
  const invalid: string[] = [];
  const malformed: string[] = [];
  if (!isObject(rule)) {
    malformed.push(path);
    // Unreadable as a whole: an ALLOW rule is dropped, a DENY rule denies every connection.
    return { clauses: action === 'Allow' ? null : [], l7, invalid, malformed };
  }
  const cidrs = (v: unknown, p: string) => ips(strings(v, p, malformed), invalid);
  const problems = () => invalid.length + malformed.length;
  const toMatches: Match[] = [];
  // An operation or a source left with no condition because a field was unreadable would match nothing (ztunnel skips
  // empty matches), so the whole clause is left out instead: a DENY rule denies more, never less.
  let anyOperation = false;
  const tos = objects(rule.to, `${path}.to`, malformed);
  for (const [i, to] of (tos || []).entries()) {
    const problemsBefore = problems();
    const op = to.operation ?? {};
    if (!isObject(op)) {
      malformed.push(`${path}.to[${i}].operation`);
      anyOperation = true;
      continue;
    }
    for (const k of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const) if (nonEmpty(op[k] as unknown[] | undefined)) l7.push(k);
    const m = compact({
      destinationPorts: ports(strings(op.ports, `${path}.to[${i}].operation.ports`, malformed, true)),
      notDestinationPorts: ports(strings(op.notPorts, `${path}.to[${i}].operation.notPorts`, malformed, true)),
    });
    if (isEmptyMatch(m) && problems() > problemsBefore) anyOperation = true;
    toMatches.push(m);
  }
  const fromMatches: Match[] = [];
  let anySource = false;
  const froms = objects(rule.from, `${path}.from`, malformed);
  for (const [i, from] of (froms || []).entries()) {
    const problemsBefore = problems();
    const s = from.source ?? {};
    const p = `${path}.from[${i}].source`;
    if (!isObject(s)) {
      malformed.push(p);
      anySource = true;
      continue;
    }
    for (const k of ['remoteIpBlocks', 'notRemoteIpBlocks', 'requestPrincipals', 'notRequestPrincipals', 'trustDomains', 'notTrustDomains'] as const) {
      if (nonEmpty(s[k] as unknown[] | undefined)) l7.push(k);
    }
    const m = compact({
      sourceIps: cidrs(s.ipBlocks, `${p}.ipBlocks`),
      notSourceIps: cidrs(s.notIpBlocks, `${p}.notIpBlocks`),
      namespaces: stringMatches(strings(s.namespaces, `${p}.namespaces`, malformed)),
      notNamespaces: stringMatches(strings(s.notNamespaces, `${p}.notNamespaces`, malformed)),
      serviceAccounts: serviceAccounts(strings(s.serviceAccounts, `${p}.serviceAccounts`, malformed), ns),
      notServiceAccounts: serviceAccounts(strings(s.notServiceAccounts, `${p}.notServiceAccounts`, malformed), ns),
      principals: stringMatches(strings(s.principals, `${p}.principals`, malformed)),
      notPrincipals: stringMatches(strings(s.notPrincipals, `${p}.notPrincipals`, malformed)),
    });
    if (isEmptyMatch(m) && problems() > problemsBefore) anySource = true;
    fromMatches.push(m);
  }
  const clauses: Match[][] = [];
  if (tos && toMatches.length > 0 && !anyOperation) clauses.push(toMatches);
  if (froms && fromMatches.length > 0 && !anySource) clauses.push(fromMatches);
  for (const [i, w] of (objects(rule.when, `${path}.when`, malformed) || []).entries()) {
    const p = `${path}.when[${i}]`;
    if (typeof w.key !== 'string') {
      malformed.push(`${p}.key`);
      continue;
    }
    const key = w.key;
    if (!L4_WHEN_KEYS.has(key)) l7.push(key);
    const pick = <T>(k: string, neg: boolean, f: (v: string[] | undefined) => T[]): T[] =>
      key === k ? f(strings(neg ? w.notValues : w.values, `${p}.${neg ? 'notValues' : 'values'}`, malformed)) : [];
    const problemsBefore = problems();
    const m = compact({
        namespaces: pick('source.namespace', false, stringMatches),
        principals: pick('source.principal', false, stringMatches),
        sourceIps: pick('source.ip', false, (v) => ips(v, invalid)),
        destinationPorts: pick('destination.port', false, ports),
        destinationIps: pick('destination.ip', false, (v) => ips(v, invalid)),
        notNamespaces: pick('source.namespace', true, stringMatches),
        notPrincipals: pick('source.principal', true, stringMatches),
        notSourceIps: pick('source.ip', true, (v) => ips(v, invalid)),
        notDestinationPorts: pick('destination.port', true, ports),
        notDestinationIps: pick('destination.ip', true, (v) => ips(v, invalid)),
      });
    if (!(isEmptyMatch(m) && problems() > problemsBefore)) clauses.push([m]);
  }
  // An ALLOW rule with HTTP attributes, or with a field that does not parse, cannot be enforced as written: drop
  // it (fail closed). A DENY rule keeps the rest of its conditions, so it denies at least what was asked.
  if (action === 'Allow' && (l7.length > 0 || invalid.length > 0 || malformed.length > 0)) return { clauses: null, l7, invalid, malformed };
  return { clauses, l7, invalid, malformed };
}

function hasEffectiveRules(rules: Match[][][]): boolean {
  return rules.some((rule) => rule.length === 0 || rule.every((clause) => clause.some((m) => !isEmptyMatch(m))));
}

/**
 * Converts an AuthorizationPolicy to what ztunnel receives, as istiod does for ambient.
 * `enableDryRun` mirrors AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY.
 */
export function convertAuthorizationPolicy(
  policy: AuthorizationPolicy,
  opts: { rootNamespace?: string; enableDryRun?: boolean } = {},
): ConversionResult {
  const rootNamespace = opts.rootNamespace ?? 'istio-system';
  // A namespaced object from the API server always carries both a name and a namespace.
  const { annotations } = policy.metadata;
  const name = policy.metadata.name!;
  const namespace = policy.metadata.namespace!;
  const spec = policy.spec ?? {};
  const dryRunValue = annotations?.['istio.io/dry-run'];
  const dryRun = dryRunValue !== undefined && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(dryRunValue);
  if (dryRun && !opts.enableDryRun) {
    return {
      warnings: [
        {
          reason: 'UnsupportedValue',
          message: `found policy "${namespace}/${name}" using dry-run annotation, but support for ambient dry-run authorizationPolicies isn't enabled`,
        },
      ],
    };
  }
  if (spec.targetRef || (spec.targetRefs && spec.targetRefs.length > 0)) return { warnings: [] };
  const scope: Authorization['scope'] = spec.selector ? 'WorkloadSelector' : namespace === rootNamespace ? 'Global' : 'Namespace';
  const rawAction = spec.action ?? 'ALLOW';
  if (rawAction !== 'ALLOW' && rawAction !== 'DENY') {
    return { warnings: [{ reason: 'UnsupportedValue', message: `ztunnel does not support the ${rawAction} action` }] };
  }
  const action = rawAction === 'ALLOW' ? 'Allow' : 'Deny';
  const rules: Match[][][] = [];
  const l7 = new Set<string>();
  const invalid = new Set<string>();
  const malformed: string[] = [];
  const specRules: unknown = spec.rules;
  if (specRules !== undefined && specRules !== null && !Array.isArray(specRules)) {
    // Not a list: an ALLOW policy allows nothing, a DENY policy denies every connection.
    malformed.push('rules');
    if (action === 'Deny') rules.push([]);
  }
  for (const [i, rule] of (Array.isArray(specRules) ? specRules : []).entries()) {
    const r = handleRule(action, rule ?? {}, namespace, `rules[${i}]`);
    if (r.clauses) rules.push(r.clauses);
    for (const k of r.l7) l7.add(k);
    for (const v of r.invalid) invalid.add(v);
    malformed.push(...r.malformed);
  }
  const authorization: Authorization = { name, namespace, scope, action, dryRun, rules };
  const warnings: ConversionWarning[] = [];
  if (l7.size > 0) {
    const tail = action === 'Deny' ? (hasEffectiveRules(rules) ? DENY_MIXED : DENY_NO_EFFECT) : ALLOW_DROPPED;
    warnings.push({ reason: 'UnsupportedValue', message: HTTP_RULE([...l7].sort().join(', '), tail) });
  }
  if (invalid.size > 0) {
    const blocks = [...invalid].map((v) => JSON.stringify(v)).join(', ');
    warnings.push({
      reason: 'UnsupportedValue',
      message:
        action === 'Allow'
          ? `invalid IP block ${blocks} (write a.b.c.d/n or an address): the ALLOW rules that use it are omitted. This will be more restrictive than requested.`
          : `invalid IP block ${blocks} (write a.b.c.d/n or an address): the DENY rules that use it are enforced without that IP condition. This will be more restrictive than requested.`,
    });
  }
  if (malformed.length > 0) {
    warnings.push({
      reason: 'UnsupportedValue',
      message:
        action === 'Allow'
          ? `unreadable ${malformed.join(', ')} (expected a list of strings or of objects, as the spec declares): the ALLOW rules that use them are omitted. This will be more restrictive than requested.`
          : `unreadable ${malformed.join(', ')} (expected a list of strings or of objects, as the spec declares): the DENY rules that use them are enforced without them. This will be more restrictive than requested.`,
    });
  }
  return { authorization, warnings };
}
