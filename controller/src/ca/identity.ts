// Which identity a caller may get a certificate for (istiod's security/pkg/server/ca/server.go + node_auth.go):
// its own; or, for a trusted node account (ztunnel), the identity of a pod that runs on the caller pod's node.

import { AuthError, callerKey, type Caller } from './auth.js';
import type { PodLookup } from './pods.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
/** Istio's CA_TRUSTED_NODE_ACCOUNTS Helm default. */
export const DEFAULT_TRUSTED_NODE_ACCOUNTS = ['istio-system/ztunnel'];
/** istiod's message for every impersonation refusal. */
export const IMPERSONATION_FAILURE = 'request impersonation authentication failure';

export interface SpiffeIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export const spiffeUri = (i: SpiffeIdentity): string => `spiffe://${i.trustDomain}/ns/${i.namespace}/sa/${i.serviceAccount}`;

export function parseSpiffe(uri: string): SpiffeIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  return m ? { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! } : undefined;
}

export interface IdentityPolicy {
  trustDomain?: string;
  /** `ns/sa` of the accounts that may impersonate pods on their node. */
  trustedNodeAccounts?: string[];
  pods: PodLookup;
}

/**
 * The SPIFFE identity `caller` gets for a request naming `impersonated` (or nothing). Throws {@link AuthError}
 * 403 `request impersonation authentication failure` when the caller may not have it.
 */
export async function authorizeIdentity(caller: Caller, impersonated: string | undefined, policy: IdentityPolicy): Promise<string> {
  const td = policy.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const own = spiffeUri({ trustDomain: td, namespace: caller.namespace, serviceAccount: caller.serviceAccount });
  if (!impersonated || impersonated === own) return own;
  const deny = (why: string): never => {
    const err = new AuthError(IMPERSONATION_FAILURE, 403);
    (err as AuthError & { reason?: string }).reason = why;
    throw err;
  };
  const target = parseSpiffe(impersonated);
  if (!target || target.trustDomain !== td) return deny(`not an identity of trust domain ${td}`);
  if (!(policy.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS).includes(callerKey(caller)))
    return deny(`${callerKey(caller)} is not a trusted node account`);
  if (!caller.podName) return deny('token is not bound to a pod');
  const pod = await policy.pods.getPod(caller.namespace, caller.podName);
  if (!pod) return deny(`caller pod ${caller.namespace}/${caller.podName} not found`);
  if (caller.podUid && pod.uid && pod.uid !== caller.podUid) return deny('caller pod uid mismatch');
  if (pod.serviceAccount !== caller.serviceAccount) return deny('caller pod runs as another service account');
  const node = pod.nodeName;
  if (!node) return deny('caller pod is not scheduled');
  const onNode = await policy.pods.podsOnNode(node, target.namespace);
  if (!onNode.some((p) => p.serviceAccount === target.serviceAccount))
    return deny(`no pod of ${target.namespace}/${target.serviceAccount} on node ${node}`);
  return impersonated;
}
