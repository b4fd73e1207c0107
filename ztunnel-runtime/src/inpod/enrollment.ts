// Which pods istio-cni puts into the mesh (reference 6.1): the default `enablementSelectors` plus the exclusions.
// Pure functions over the Kubernetes objects, so they are unit-tested without a cluster.

export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
export const DATAPLANE_MODE_AMBIENT = 'ambient';
export const DATAPLANE_MODE_NONE = 'none';
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';
export const REDIRECTION_ANNOTATION = 'ambient.istio.io/redirection';
export const REDIRECTION_ENABLED = 'enabled';

/** The parts of a Pod the decision reads (structurally compatible with client-node's V1Pod). */
export interface PodLike {
  metadata?: { uid?: string; name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: unknown };
  spec?: { hostNetwork?: boolean; nodeName?: string };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

export interface NamespaceLike {
  metadata?: { name?: string; labels?: Record<string, string> };
}

export type EnrollmentReason =
  | 'pod-label'
  | 'namespace-label'
  | 'not-selected'
  | 'pod-opt-out'
  | 'sidecar'
  | 'host-network'
  | 'terminal';

export interface EnrollmentDecision {
  enroll: boolean;
  reason: EnrollmentReason;
}

/**
 * Istio's rule: pod label `istio.io/dataplane-mode=ambient`, OR namespace label `istio.io/dataplane-mode=ambient` and
 * the pod's label is not `none`. Never: sidecar-injected pods (`sidecar.istio.io/status`), hostNetwork pods, pods
 * labelled `none` (waypoints carry that label), and pods that have finished (Succeeded/Failed: nothing to capture).
 */
export function enrollmentDecision(pod: PodLike, namespace: NamespaceLike | undefined): EnrollmentDecision {
  const podMode = pod.metadata?.labels?.[DATAPLANE_MODE_LABEL];
  const nsMode = namespace?.metadata?.labels?.[DATAPLANE_MODE_LABEL];
  if (pod.spec?.hostNetwork) return { enroll: false, reason: 'host-network' };
  if (pod.metadata?.annotations?.[SIDECAR_STATUS_ANNOTATION] !== undefined) return { enroll: false, reason: 'sidecar' };
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return { enroll: false, reason: 'terminal' };
  if (podMode === DATAPLANE_MODE_NONE) return { enroll: false, reason: 'pod-opt-out' };
  if (podMode === DATAPLANE_MODE_AMBIENT) return { enroll: true, reason: 'pod-label' };
  if (nsMode === DATAPLANE_MODE_AMBIENT) return { enroll: true, reason: 'namespace-label' };
  return { enroll: false, reason: 'not-selected' };
}

/** True when the pod carries `ambient.istio.io/redirection: enabled` (a previous run enrolled it). */
export function podMarkedEnrolled(pod: PodLike): boolean {
  return pod.metadata?.annotations?.[REDIRECTION_ANNOTATION] === REDIRECTION_ENABLED;
}

/** The pod's IPv4 address, once the runtime has assigned one. */
export function podIp(pod: PodLike): string | undefined {
  return pod.status?.podIP || pod.status?.podIPs?.[0]?.ip || undefined;
}

/** Merge patch setting (or, with `null`, removing) the redirection annotation. */
export function redirectionPatch(value: string | null): { metadata: { annotations: Record<string, string | null> } } {
  return { metadata: { annotations: { [REDIRECTION_ANNOTATION]: value } } };
}
