// Pod -> Workload facts that do not depend on other objects (istiod's ambient workloads.go, kube labels).

import type { Pod } from './input.js';

export const REDIRECTION_ANNOTATION = 'ambient.istio.io/redirection';

export function podIps(p: Pod): string[] {
  const ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter(Boolean);
  if (ips.length) return ips;
  return p.status?.podIP ? [p.status.podIP] : [];
}

export function podReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export const podServiceAccount = (p: Pod): string => p.spec?.serviceAccountName || 'default';

/** Pods that are not workloads of the mesh model: finished, not yet addressed, or on the host network. */
export function isModelledPod(p: Pod): boolean {
  if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return false;
  if (p.metadata.deletionTimestamp && !podReady(p)) return false;
  if (p.spec?.hostNetwork) return false;
  return podIps(p).length > 0;
}

/** Workload name and type from the owner chain, as istiod derives them (Deployment via its ReplicaSet, CronJob via its Job). */
export function workloadNameAndType(p: Pod): { name: string; type: 'deployment' | 'cronjob' | 'pod' | 'job' } {
  const owner = p.metadata.ownerReferences?.find((o) => o.controller) ?? p.metadata.ownerReferences?.[0];
  if (!owner) return { name: p.metadata.name!, type: 'pod' };
  if (owner.kind === 'ReplicaSet') {
    const hash = p.metadata.labels?.['pod-template-hash'];
    if (hash && owner.name.endsWith(`-${hash}`)) return { name: owner.name.slice(0, -hash.length - 1), type: 'deployment' };
    return { name: owner.name, type: 'pod' };
  }
  if (owner.kind === 'Job') {
    const m = /^(.+)-\d+$/.exec(owner.name);
    if (m) return { name: m[1]!, type: 'cronjob' };
    return { name: owner.name, type: 'job' };
  }
  return { name: owner.name, type: 'pod' };
}

/** Istio's canonical service name and revision labels, with their fallbacks. */
export function canonical(labels: Record<string, string> | undefined, workloadName: string): { name: string; revision: string } {
  const l = labels ?? {};
  return {
    name: l['service.istio.io/canonical-name'] || l['app.kubernetes.io/name'] || l.app || workloadName,
    revision: l['service.istio.io/canonical-revision'] || l['app.kubernetes.io/version'] || l.version || 'latest',
  };
}

/** The container port a named target port means on this pod. */
export function namedPort(p: Pod, name: string): number | undefined {
  for (const c of p.spec?.containers ?? []) for (const port of c.ports ?? []) if (port.name === name) return port.containerPort;
  return undefined;
}
