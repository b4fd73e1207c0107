// The authz plugin: AuthorizationPolicies attached to this waypoint by targetRef(s), evaluated as Envoy RBAC:
//   1. AUDIT policies that match are logged (never change the decision)
//   2. CUSTOM is not supported (no ext-authz provider): reported, and enforced as DENY on its rules (fail closed)
//   3. any DENY match -> 403 `RBAC: access denied`
//   4. ALLOW policies apply -> one must match, else 403
//   5. otherwise allow
// Policies annotated `istio.io/dry-run: "true"` are evaluated and logged only.

import {

  inject,
  injectable,
  LOGGER,
  RESOURCES,
  STATUS,
  WAYPOINT,
  type K8sObject,
  type Logger,
  type Plugin,
  type RequestContext,
  type ResourceReader,
  type StatusReporter,
  type WaypointIdentity,
} from '@ambit/plugin-sdk';
import { attachment, type TargetRef } from '../common/attach.js';
import { compilePolicyRules, type Action, type AuthorizationPolicySpec, type CompiledPolicy } from './policy.js';

export const RBAC_DENIED_BODY = 'RBAC: access denied';
const GROUP = 'security.istio.io';
const POLICY_KINDS = ['AuthorizationPolicy'] as const;

export interface AuthzDecision {
  allowed: boolean;
  /** `ns/name` of the deciding policy (deny) or the first matching allow. */
  policy?: string;
  reason: string;
}

export function compilePolicies(objects: K8sObject<AuthorizationPolicySpec>[], waypoint: WaypointIdentity): CompiledPolicy[] {
  const out: CompiledPolicy[] = [];
  for (const o of objects) {
    const spec = o.spec ?? {};
    const ns = o.metadata.namespace ?? 'default';
    const appliesTo = attachment(spec as { targetRef?: TargetRef; targetRefs?: TargetRef[] }, ns, waypoint);
    if (!appliesTo) continue; // selector / namespace-wide policies are for ztunnel
    const action = (spec.action ?? 'ALLOW') as Action;
    const problems: string[] = [];
    const matches = compilePolicyRules(spec.rules, action, ns, problems);
    out.push({
      key: `${ns}/${o.metadata.name}`,
      namespace: ns,
      name: o.metadata.name,
      action,
      dryRun: o.metadata.annotations?.['istio.io/dry-run'] === 'true',
      matches,
      appliesTo,
      problems,
    });
  }
  return out;
}

export function evaluate(policies: CompiledPolicy[], ctx: RequestContext, log?: (p: CompiledPolicy, what: string) => void): AuthzDecision {
  let allowExists = false;
  let allowedBy: string | undefined;
  let deniedBy: string | undefined;
  for (const p of policies) {
    if (!p.appliesTo(ctx)) continue;
    switch (p.action) {
      case 'AUDIT':
        if (p.matches(ctx)) log?.(p, 'audit');
        break;
      case 'DENY':
      case 'CUSTOM':
        if (p.matches(ctx)) {
          if (p.dryRun) log?.(p, 'shadow denied');
          else deniedBy ??= p.key;
        }
        break;
      case 'ALLOW':
        if (p.dryRun) {
          log?.(p, p.matches(ctx) ? 'shadow allowed' : 'shadow not allowed');
          break;
        }
        allowExists = true;
        if (!allowedBy && p.matches(ctx)) allowedBy = p.key;
        break;
    }
  }
  if (deniedBy) return { allowed: false, policy: deniedBy, reason: `explicitly denied by: ${deniedBy}` };
  if (allowExists && !allowedBy) return { allowed: false, reason: 'allow policies exist, but none allowed' };
  return { allowed: true, policy: allowedBy, reason: allowedBy ? `allowed by: ${allowedBy}` : 'no policy' };
}

@injectable()
export class AuthzPlugin implements Plugin {
  readonly name = 'istio.authz';
  readonly phase = 'AUTHZ' as const;
  readonly priority = 0;
  /** resources.version when last checked, and the AuthorizationPolicies' version the policies were compiled at. */
  #checked = -1;
  #version = -1;
  #policies: CompiledPolicy[] = [];

  constructor(
    @inject(RESOURCES) private readonly resources: ResourceReader,
    @inject(WAYPOINT) private readonly waypoint: WaypointIdentity,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(STATUS) private readonly status: StatusReporter,
  ) {}

  /** A new config: compile the policies and report their status now, not when the next request comes. */
  onConfig(): void {
    this.policies();
  }

  policies(): CompiledPolicy[] {
    // Compiled again only when AuthorizationPolicies changed, not for a route or any other kind.
    if (this.#checked !== this.resources.version) {
      this.#checked = this.resources.version;
      const version = this.resources.versionOf(POLICY_KINDS);
      if (version === this.#version) return this.#policies;
      this.#version = version;
      this.#policies = compilePolicies(this.resources.list<AuthorizationPolicySpec>('AuthorizationPolicy', GROUP), this.waypoint);
      for (const p of this.#policies) {
        const ref = { kind: 'AuthorizationPolicy', namespace: p.namespace, name: p.name };
        if (p.action === 'CUSTOM') {
          this.logger.warn('unsupported CUSTOM action, enforced as DENY', { policy: p.key });
          this.status.report(ref, { type: 'WaypointAccepted', status: 'False', reason: 'UnsupportedValue', message: 'waypoint does not support the CUSTOM action (no ext-authz provider); its rules are enforced as DENY' });
        } else if (p.problems.length) {
          this.logger.warn('invalid policy rules', { policy: p.key, problems: p.problems.join('; ') });
          this.status.report(ref, { type: 'WaypointAccepted', status: 'False', reason: 'Invalid', message: p.problems.join('; ') });
        } else {
          this.status.report(ref, { type: 'WaypointAccepted', status: 'True', reason: 'Accepted', message: `bound to ${this.waypoint.namespace}/${this.waypoint.name}` });
        }
      }
    }
    return this.#policies;
  }

  onRequest(ctx: RequestContext): void {
    const policies = this.policies();
    if (policies.length === 0) return;
    const d = evaluate(policies, ctx, (p, what) =>
      this.logger.info(`policy ${what}`, { policy: p.key, src: ctx.source.principal, method: ctx.request.method, path: ctx.request.path }),
    );
    if (!d.allowed) {
      this.logger.debug('request denied', { reason: d.reason, src: ctx.source.principal, method: ctx.request.method, path: ctx.request.path });
      // No response flag: Envoy's RBAC filter sets none (its access log reads `403 - rbac_access_denied_matched_policy[...]`,
      // the metric response_flags="-"); the details say why.
      ctx.deny(403, RBAC_DENIED_BODY, {}, 'rbac');
      ctx.state.set('istio.authz.decision', d);
    }
  }
}

