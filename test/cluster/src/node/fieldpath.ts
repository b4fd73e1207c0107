// Downward API: pod fields and container resources, for env valueFrom and downwardAPI volume files.
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface PodRuntimeInfo {
  podIP?: string;
  hostIP: string;
  nodeName: string;
}

/** A downward API fieldRef (`metadata.labels['app']`, `status.podIP`, ...). */
export function podFieldValue(pod: V1Pod, path: string, info: PodRuntimeInfo): string {
  const md = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub) {
    const map = (sub[1] === 'labels' ? md.labels : md.annotations) ?? {};
    return map[sub[2]!] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? info.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
      return info.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return info.podIP ?? '';
    default:
      throw new Error(`unsupported fieldPath ${path}`);
  }
}

/** `key="value"` lines, sorted, as the kubelet writes labels/annotations files. */
export function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map![k])}`)
    .join('\n');
}

const suffixes: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m || !(m[2]! in suffixes)) throw new Error(`bad quantity ${q}`);
  return Number(m[1]) * suffixes[m[2]!]!;
}

export const nodeAllocatable = { cpu: '8', memory: '16Gi', pods: '110', 'ephemeral-storage': '100Gi' };

/** A resourceFieldRef: limits fall back to the node's allocatable, as the kubelet does. */
export function resourceFieldValue(container: V1Container | undefined, resource: string, divisor?: string): string {
  const [kind, name] = resource.split('.') as ['limits' | 'requests', string];
  const res = container?.resources ?? {};
  let raw = (kind === 'limits' ? res.limits : res.requests)?.[name];
  if (raw === undefined && kind === 'limits') raw = (nodeAllocatable as Record<string, string>)[name];
  if (raw === undefined) raw = '0';
  const value = parseQuantity(raw as string);
  const div = parseQuantity(divisor ?? '1');
  return String(Math.ceil(value / (div || 1)));
}
