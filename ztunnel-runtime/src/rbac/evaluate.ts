// L4 authorization exactly as ztunnel evaluates it (assert_rbac + Authorization::matches).
import {
  cidrContains,
  isEmptyMatch,
  logger,
  parseSpiffeId,
  policyKey,
  type Authorization,
  type Match,
  type ServiceAccountMatch,
  type StringMatch,
} from '@ambit/mesh-api';

const log = logger('rbac');

export interface RbacConnection {
  srcIp: string;
  /** `spiffe://…` of the peer; undefined for plaintext. */
  srcIdentity?: string;
  dstIp: string;
  /** Target port (after service port mapping). */
  dstPort: number;
}

export type RbacResult = { allowed: true } | { allowed: false; reason: string };

function stringMatches(m: StringMatch, v: string): boolean {
  if ('Exact' in m) return m.Exact === v;
  if ('Prefix' in m) return v.startsWith(m.Prefix);
  if ('Suffix' in m) return v.endsWith(m.Suffix);
  return v !== '';
}

function field<T>(pos: T[] | undefined, neg: T[] | undefined, pred: (x: T) => boolean): boolean {
  if (pos && pos.length > 0 && !pos.some(pred)) return false;
  if (neg && neg.length > 0 && neg.some(pred)) return false;
  return true;
}

interface Attrs {
  conn: RbacConnection;
  /** principal without `spiffe://`, "" when none */
  principal: string;
  namespace: string;
  serviceAccount: string;
}

function matchMatches(m: Match, a: Attrs): boolean {
  const c = a.conn;
  return (
    field(m.destinationIps, m.notDestinationIps, (cidr) => cidrContains(cidr, c.dstIp)) &&
    field(m.sourceIps, m.notSourceIps, (cidr) => cidrContains(cidr, c.srcIp)) &&
    field(m.destinationPorts, m.notDestinationPorts, (p) => Number(p) === c.dstPort) &&
    field(m.serviceAccounts, m.notServiceAccounts, (sa: ServiceAccountMatch) => a.principal !== '' && sa.namespace === a.namespace && sa.serviceAccount === a.serviceAccount) &&
    field(m.principals, m.notPrincipals, (p) => a.principal !== '' && stringMatches(p, a.principal)) &&
    field(m.namespaces, m.notNamespaces, (n) => stringMatches(n, a.namespace))
  );
}

function attrsOf(conn: RbacConnection): Attrs {
  const id = conn.srcIdentity ? parseSpiffeId(conn.srcIdentity) : undefined;
  return {
    conn,
    principal: conn.srcIdentity?.startsWith('spiffe://') ? conn.srcIdentity.slice('spiffe://'.length) : '',
    namespace: id?.namespace ?? '',
    serviceAccount: id?.serviceAccount ?? '',
  };
}

/** Does the policy match the connection? Zero rules: never. A rule is the AND of its clauses; a clause the OR of its non-empty matches. */
export function policyMatches(p: Authorization, conn: RbacConnection, attrs: Attrs = attrsOf(conn)): boolean {
  if (p.rules.length === 0) return false;
  for (const rule of p.rules) {
    let ruleMatch = true;
    for (const clause of rule) {
      let clauseMatch = clause.length === 0;
      for (const m of clause) {
        if (isEmptyMatch(m)) continue;
        if (matchMatches(m, attrs)) {
          clauseMatch = true;
          break;
        }
      }
      if (!clauseMatch) {
        ruleMatch = false;
        break;
      }
    }
    if (ruleMatch) return true;
  }
  return false;
}

/** Istio's order: dry-run DENY (log) → DENY → dry-run ALLOW (log) → no ALLOW ⇒ allow → any ALLOW ⇒ allow → deny. */
export function evaluateRbac(policies: Authorization[], conn: RbacConnection): RbacResult {
  const attrs = attrsOf(conn);
  const describe = () => `${conn.srcIp}(${conn.srcIdentity ?? 'None'})->${conn.dstIp}:${conn.dstPort}`;
  for (const p of policies) {
    if (p.action === 'Deny' && p.dryRun && policyMatches(p, conn, attrs)) log.info('dry-run: deny policy match', `policy=${policyKey(p)} conn=${describe()}`);
  }
  for (const p of policies) {
    if (p.action === 'Deny' && !p.dryRun && policyMatches(p, conn, attrs)) {
      log.debug('deny policy match', `policy=${policyKey(p)} conn=${describe()}`);
      return { allowed: false, reason: `explicitly denied by: ${policyKey(p)}` };
    }
  }
  for (const p of policies) {
    if (p.action === 'Allow' && p.dryRun) {
      log.info(`dry-run: allow policy ${policyMatches(p, conn, attrs) ? 'match' : 'no match'}`, `policy=${policyKey(p)} conn=${describe()}`);
    }
  }
  const allows = policies.filter((p) => p.action === 'Allow' && !p.dryRun);
  if (allows.length === 0) return { allowed: true };
  for (const p of allows) {
    if (policyMatches(p, conn, attrs)) return { allowed: true };
  }
  return { allowed: false, reason: 'allow policies exist, but none allowed' };
}
