// Authorization for ztunnels: each AuthorizationPolicy converted to the L4 model (./authorization.ts), the
// workload-selector ones named on the workloads they select (a root-namespace one in every namespace), and
// PeerAuthentication's STRICT/DISABLE modes as the generated policies Istio adds (./policies.ts).
import type { Authorization, Workload } from '@ambit/mesh-api';
import { convertAuthorizationPolicy } from './authorization.js';
import type { MeshInput, Pod } from './input.js';
import { nsName, type ModelSettings, type ModelWarning } from './model.js';
import type { PodIndex } from './pod-index.js';
import { indexPeerAuthentications, type PeerAuthentication } from './policies.js';

/** The policies, unsorted; each selected workload's `authorizationPolicies` filled in and sorted. */
export function buildAuthorization(
  input: Pick<MeshInput, 'authorizationPolicies' | 'peerAuthentications'>,
  pods: PodIndex,
  workloads: Map<string, Workload>,
  podOfUid: Map<string, Pod>,
  settings: Pick<ModelSettings, 'rootNamespace' | 'enableDryRun'>,
  warnings: ModelWarning[],
): Authorization[] {
  const { rootNamespace } = settings;
  const policies: Authorization[] = [];
  for (const ap of input.authorizationPolicies ?? []) {
    const res = convertAuthorizationPolicy(ap, { rootNamespace, ...(settings.enableDryRun ? { enableDryRun: true } : {}) });
    for (const w of res.warnings) warnings.push({ object: `AuthorizationPolicy ${nsName(ap)}`, ...w });
    if (!res.authorization) continue;
    policies.push(res.authorization);
    if (res.authorization.scope !== 'WorkloadSelector') continue;
    const sel = ap.spec?.selector?.matchLabels ?? {};
    const key = nsName(ap);
    const selected = ap.metadata.namespace === rootNamespace ? pods.namespaces().flatMap((ns) => pods.select(ns, sel)) : pods.select(ap.metadata.namespace!, sel);
    for (const p of selected) (workloads.get(pods.uidOf(p))!.authorizationPolicies ??= []).push(key);
  }
  const peer = indexPeerAuthentications((input.peerAuthentications ?? []) as PeerAuthentication[], rootNamespace);
  for (const [uid, w] of workloads) {
    const extra = peer.policiesFor(w.namespace, podOfUid.get(uid)!.metadata.labels ?? {});
    if (extra.length) (w.authorizationPolicies ??= []).push(...extra);
    w.authorizationPolicies?.sort();
  }
  policies.push(...peer.generated());
  return policies;
}
