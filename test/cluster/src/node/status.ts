// The pod status the kubelet would report: phase, conditions, IPs, container statuses.
import type { V1Container, V1ContainerStatus, V1PodCondition, V1PodStatus, V1Pod } from '@kubernetes/client-node';

export interface PodView {
  pod: V1Pod;
  podIP?: string;
  hostIP: string;
  startTime: Date;
  sandboxReady: boolean;
  initDone: boolean;
  /** Set when the pod ended for good (all containers done per restart policy, or an init container failed). */
  terminal?: 'Succeeded' | 'Failed';
  initStatuses: V1ContainerStatus[];
  statuses: V1ContainerStatus[];
  /** Sidecar init containers (restartPolicy Always), whose readiness counts like a main container's. */
  sidecars: string[];
  message?: string;
  reason?: string;
}

export function qosClass(pod: V1Pod): string {
  const containers: V1Container[] = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export function podPhase(view: PodView): string {
  if (view.terminal) return view.terminal;
  if (!view.initDone) return 'Pending';
  let waitingFresh = 0;
  let running = 0;
  let terminated = 0;
  let failed = 0;
  for (const s of view.statuses) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      terminated++;
      if (s.state.terminated.exitCode !== 0) failed++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) running++; // restarting
      else waitingFresh++;
    }
  }
  if (waitingFresh > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (terminated === view.statuses.length && terminated > 0) {
    const policy = view.pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Always') return 'Running';
    if (failed === 0) return 'Succeeded';
    return policy === 'Never' ? 'Failed' : 'Running';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, prev: V1PodCondition[] | undefined, now: Date, reason?: string): V1PodCondition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === status && old.lastTransitionTime ? new Date(old.lastTransitionTime) : now;
  return { type, status, lastTransitionTime, ...(reason && !ok ? { reason } : {}) } as V1PodCondition;
}

export function buildPodStatus(view: PodView, now = new Date()): V1PodStatus {
  const prev = view.pod.status?.conditions;
  const phase = podPhase(view);
  const sidecarStatuses = view.initStatuses.filter((s) => view.sidecars.includes(s.name));
  const readiness = [...view.statuses, ...sidecarStatuses];
  const containersReady = readiness.length > 0 && readiness.every((s) => s.ready);
  const notReady = readiness.filter((s) => !s.ready).map((s) => s.name);
  const gates = (view.pod.spec?.readinessGates ?? []).every(
    (g) => prev?.find((c) => c.type === g.conditionType)?.status === 'True',
  );
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const conditions: V1PodCondition[] = [
    condition('PodReadyToStartContainers', view.sandboxReady && !completed, prev, now),
    condition('Initialized', view.initDone, prev, now, 'ContainersNotInitialized'),
    condition('Ready', containersReady && gates && !completed, prev, now, completed ? 'PodCompleted' : 'ContainersNotReady'),
    condition('ContainersReady', containersReady && !completed, prev, now, completed ? 'PodCompleted' : 'ContainersNotReady'),
    condition('PodScheduled', true, prev, now),
  ];
  for (const c of conditions) {
    if (c.status === 'False' && (c.type === 'Ready' || c.type === 'ContainersReady') && !completed && notReady.length) {
      c.message = `containers with unready status: [${notReady.join(' ')}]`;
    }
  }
  // Conditions written by others (readiness gates, DisruptionTarget, ...) are kept.
  for (const c of prev ?? []) if (!conditions.some((x) => x.type === c.type)) conditions.push(c);
  const status: V1PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    startTime: view.startTime,
    qosClass: qosClass(view.pod),
    containerStatuses: view.statuses,
  };
  if (view.initStatuses.length) status.initContainerStatuses = view.initStatuses;
  if (view.podIP) {
    status.podIP = view.podIP;
    status.podIPs = [{ ip: view.podIP }];
  }
  if (view.message) status.message = view.message;
  if (view.reason) status.reason = view.reason;
  const generation = view.pod.metadata?.generation;
  if (generation !== undefined) (status as V1PodStatus & { observedGeneration?: number }).observedGeneration = generation;
  return status;
}
