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

function handleRule(action: 'Allow' | 'Deny', rule: AuthorizationRule, ns: string): { clauses: Match[][] | null; l7: string[]; invalid: string[] } {
  const l7: string[] = [];
  const invalid: string[] = [];
  const cidrs = (v: string[] | undefined) => ips(v, invalid);
  const toMatches: Match[] = [];
  for (const to of rule.to ?? []) {
    const op = to.operation ?? {};
    for (const k of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const) if (nonEmpty(op[k])) l7.push(k);
    toMatches.push(compact({ destinationPorts: ports(op.ports), notDestinationPorts: ports(op.notPorts) }));
  }
  const fromMatches: Match[] = [];
  // A source left with no condition because its IP list was malformed matches any source (see `ips`); ztunnel skips
  // empty matches, so the whole `from` clause is left out instead.
  let anySource = false;
  for (const from of rule.from ?? []) {
    const invalidBefore = invalid.length;
    const s = from.source ?? {};
    for (const k of ['remoteIpBlocks', 'notRemoteIpBlocks', 'requestPrincipals', 'notRequestPrincipals', 'trustDomains', 'notTrustDomains'] as const) {
      if (nonEmpty(s[k])) l7.push(k);
    }
    const m = compact({
        sourceIps: cidrs(s.ipBlocks),
        notSourceIps: cidrs(s.notIpBlocks),
        namespaces: stringMatches(s.namespaces),
        notNamespaces: stringMatches(s.notNamespaces),
        serviceAccounts: serviceAccounts(s.serviceAccounts, ns),
        notServiceAccounts: serviceAccounts(s.notServiceAccounts, ns),
        principals: stringMatches(s.principals),
        notPrincipals: stringMatches(s.notPrincipals),
      });
    if (isEmptyMatch(m) && invalid.length > invalidBefore) anySource = true;
    fromMatches.push(m);
  }
  const clauses: Match[][] = [];
  if (toMatches.length > 0) clauses.push(toMatches);
  if (fromMatches.length > 0 && !anySource) clauses.push(fromMatches);
  for (const w of rule.when ?? []) {
    if (!L4_WHEN_KEYS.has(w.key)) l7.push(w.key);
    const pick = <T>(key: string, neg: boolean, f: (v: string[] | undefined) => T[]): T[] => (w.key === key ? f(neg ? w.notValues : w.values) : []);
    const invalidBefore = invalid.length;
    const m = compact({
        namespaces: pick('source.namespace', false, stringMatches),
        principals: pick('source.principal', false, stringMatches),
        sourceIps: pick('source.ip', false, cidrs),
        destinationPorts: pick('destination.port', false, ports),
        destinationIps: pick('destination.ip', false, cidrs),
        notNamespaces: pick('source.namespace', true, stringMatches),
        notPrincipals: pick('source.principal', true, stringMatches),
        notSourceIps: pick('source.ip', true, cidrs),
        notDestinationPorts: pick('destination.port', true, ports),
        notDestinationIps: pick('destination.ip', true, cidrs),
      });
    if (!(isEmptyMatch(m) && invalid.length > invalidBefore)) clauses.push([m]);
  }
  // An ALLOW rule with HTTP attributes, or with an IP block that does not parse, cannot be enforced as written: drop
  // it (fail closed). A DENY rule keeps the rest of its conditions, so it denies at least what was asked.
  if (action === 'Allow' && (l7.length > 0 || invalid.length > 0)) return { clauses: null, l7, invalid };
  return { clauses, l7, invalid };
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
  for (const rule of spec.rules ?? []) {
    const r = handleRule(action, rule ?? {}, namespace);
    if (r.clauses) rules.push(r.clauses);
    for (const k of r.l7) l7.add(k);
    for (const v of r.invalid) invalid.add(v);
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
  return { authorization, warnings };
}
