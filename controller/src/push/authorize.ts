// Who may receive which stream: a ztunnel stream (the whole mesh) only trusted node accounts; a waypoint's
// stream only that waypoint's own pods (same namespace, and the pod carries the Gateway's name label, or runs
// as the ServiceAccount the deployment controller gives it).

import { AuthError, callerKey, type Caller } from '../ca/auth.js';
import { DEFAULT_TRUSTED_NODE_ACCOUNTS } from '../ca/identity.js';
import type { PodLookup } from '../ca/pods.js';
import type { StreamAuthorizer } from './server.js';

export const GATEWAY_NAME_LABELS = ['gateway.networking.k8s.io/gateway-name', 'istio.io/gateway-name'];

export interface StreamAuthorizerOptions {
  trustedNodeAccounts?: string[];
  pods: PodLookup;
  /** ServiceAccounts a waypoint's pods may run as (default: the Gateway name, `<name>-istio-waypoint`, `<name>-waypoint`). */
  waypointServiceAccounts?: (namespace: string, name: string) => string[];
}

export function defaultWaypointServiceAccounts(_namespace: string, name: string): string[] {
  return [name, `${name}-istio-waypoint`, `${name}-waypoint`];
}

export function streamAuthorizer(opts: StreamAuthorizerOptions): StreamAuthorizer {
  const trusted = opts.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS;
  const accounts = opts.waypointServiceAccounts ?? defaultWaypointServiceAccounts;
  return async (caller: Caller, req) => {
    if (req.kind === 'ztunnel') {
      if (!trusted.includes(callerKey(caller)))
        throw new AuthError(`${callerKey(caller)} may not receive the ztunnel config: not a trusted node account`, 403);
      return;
    }
    const [ns, name] = (req.waypoint ?? '').split('/') as [string, string];
    const refuse = (): never => {
      throw new AuthError(`${callerKey(caller)} may not receive the config of waypoint ${ns}/${name}`, 403);
    };
    if (caller.namespace !== ns) return refuse();
    if (accounts(ns, name).includes(caller.serviceAccount)) return;
    if (caller.podName) {
      const pod = await opts.pods.getPod(caller.namespace, caller.podName);
      if (pod && (!caller.podUid || !pod.uid || pod.uid === caller.podUid) && GATEWAY_NAME_LABELS.some((l) => pod.labels[l] === name))
        return;
    }
    refuse();
  };
}
