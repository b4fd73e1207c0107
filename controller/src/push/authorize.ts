// Who may receive which stream on :15012. A ztunnel stream (the mesh model) only a trusted node account, through a
// token bound to a pod of that account that runs on the node the stream names. A waypoint's stream only a pod of
// that waypoint: the token's service account is the one the deployment controller renders for the Gateway (its
// name, or gateway.istio.io/service-account), the token is bound to a live pod running as it, and (with a
// ServiceAccount lookup) that account is owned by the Gateway, so neither an application account that happens to
// share the Gateway's name nor a pod carrying the Gateway's name label can read the waypoint's config. The
// installed ingress gateway's stream only its pods: the system namespace, the install's ServiceAccount (which no
// Gateway owns), and the Deployment's pod labels.

import type { WaypointIdentity } from '../mesh/model.js';
import { AuthError, callerKey, type Caller } from '../ca/auth.js';
import { DEFAULT_TRUSTED_NODE_ACCOUNTS } from '../ca/identity.js';
import type { PodFacts, PodLookup } from '../ca/pods.js';
import type { KubeClient } from '../kube/client.js';
import { R, type KubeObject, type OwnerReference } from '../kube/resources.js';
import type { StreamAuthorizer, StreamRequest } from './server.js';

/** What the mesh model says a waypoint runs as: the rendered ServiceAccount and the Gateway's uid. */
export type { WaypointIdentity };

export interface ServiceAccountFacts {
  ownerReferences?: OwnerReference[];
}

export interface ServiceAccountLookup {
  getServiceAccount(namespace: string, name: string): Promise<ServiceAccountFacts | undefined>;
}

export function kubeServiceAccountLookup(client: KubeClient): ServiceAccountLookup {
  return {
    async getServiceAccount(namespace, name) {
      const sa = await client.getOrUndefined<KubeObject>(R.serviceAccount, namespace, name);
      return sa ? { ownerReferences: sa.metadata.ownerReferences ?? [] } : undefined;
    },
  };
}

export interface StreamAuthorizerOptions {
  trustedNodeAccounts?: string[];
  pods: PodLookup;
  /** When set, a waypoint's ServiceAccount must be owned by its Gateway (the controller's own). */
  serviceAccounts?: ServiceAccountLookup;
}

const finished = (p: PodFacts) => p.phase === 'Succeeded' || p.phase === 'Failed';

/** The live pod the caller's token is bound to; throws 403 naming what does not fit. */
async function callerPod(caller: Caller, pods: PodLookup, refuse: (why: string) => never): Promise<PodFacts> {
  if (!caller.podName) return refuse('the token is not bound to a pod (use a projected service account token)');
  const pod = await pods.getPod(caller.namespace, caller.podName);
  if (!pod || finished(pod)) return refuse(`pod ${caller.namespace}/${caller.podName} is not running`);
  if (caller.podUid && pod.uid && pod.uid !== caller.podUid) return refuse(`pod ${caller.namespace}/${caller.podName} was replaced (uid mismatch)`);
  if (pod.serviceAccount !== caller.serviceAccount) return refuse(`pod ${caller.namespace}/${caller.podName} runs as another service account`);
  return pod;
}

export function streamAuthorizer(opts: StreamAuthorizerOptions): StreamAuthorizer {
  const trusted = opts.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS;
  return async (caller: Caller, req: StreamRequest) => {
    if (req.kind === 'ztunnel') {
      const refuse = (why: string): never => {
        throw new AuthError(`${callerKey(caller)} may not receive the ztunnel config: ${why}`, 403);
      };
      if (!trusted.includes(callerKey(caller))) return refuse('not a trusted node account');
      const pod = await callerPod(caller, opts.pods, refuse);
      if (!pod.nodeName) return refuse(`pod ${pod.namespace}/${pod.name} is not scheduled`);
      if (caller.nodeName && caller.nodeName !== pod.nodeName) return refuse('the token names another node than its pod');
      if (req.node && req.node !== pod.nodeName) return refuse(`its pod runs on node ${pod.nodeName}, not ${req.node}`);
      return;
    }
    const [ns, name] = (req.waypoint ?? '').split('/') as [string, string];
    const id = req.identity;
    const what = id?.podLabels ? 'ingress gateway' : 'waypoint';
    const refuse = (why: string): never => {
      throw new AuthError(`${callerKey(caller)} may not receive the config of ${what} ${ns}/${name}: ${why}`, 403);
    };
    if (caller.namespace !== ns) return refuse(id?.podLabels ? `another namespace (it runs in ${ns})` : 'another namespace');
    if (!id) return refuse('no such waypoint Gateway in the mesh model');
    if (caller.serviceAccount !== id.serviceAccount) return refuse(`the ${what} runs as ${ns}/${id.serviceAccount}`);
    const pod = await callerPod(caller, opts.pods, refuse);
    if (id.podLabels) {
      // The installed ingress gateway: a pod of its Deployment (its labels), as the installed account no Gateway owns.
      const missing = Object.entries(id.podLabels).filter(([k, v]) => pod.labels[k] !== v);
      if (missing.length) return refuse(`pod ${ns}/${pod.name} is not one of its pods (labels ${missing.map(([k, v]) => `${k}=${v}`).join(', ')})`);
      if (opts.serviceAccounts) {
        const sa = await opts.serviceAccounts.getServiceAccount(ns, id.serviceAccount);
        if (!sa) return refuse(`ServiceAccount ${ns}/${id.serviceAccount} does not exist`);
        const gw = (sa.ownerReferences ?? []).find((r) => r.kind === 'Gateway');
        if (gw) return refuse(`ServiceAccount ${ns}/${id.serviceAccount} belongs to Gateway ${ns}/${gw.name}, not to the installed ingress gateway`);
      }
      return;
    }
    if (opts.serviceAccounts) {
      const sa = await opts.serviceAccounts.getServiceAccount(ns, id.serviceAccount);
      const owned = (sa?.ownerReferences ?? []).some((r) => r.kind === 'Gateway' && r.name === name && (!id.gatewayUid || !r.uid || r.uid === id.gatewayUid));
      if (!owned) return refuse(`ServiceAccount ${ns}/${id.serviceAccount} is not owned by Gateway ${ns}/${name}`);
    }
  };
}
