// The pod facts the CA and the push server check callers against.

import type { KubeClient } from '../kube/client.js';
import { R, type KubeObject } from '../kube/resources.js';

/** The parts of a Pod read here. */
export interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string> };
  spec?: { serviceAccountName?: string; nodeName?: string };
  status?: { phase?: string };
}

export interface PodFacts {
  namespace: string;
  name: string;
  uid?: string;
  nodeName?: string;
  serviceAccount: string;
  labels: Record<string, string>;
  phase?: string;
}

export interface PodLookup {
  getPod(namespace: string, name: string): Promise<PodFacts | undefined>;
  /** Pods of `namespace` scheduled to `nodeName` (spec.nodeName), not finished. */
  podsOnNode(nodeName: string, namespace: string): Promise<PodFacts[]>;
}

export function podFacts(p: PodLike): PodFacts {
  const f: PodFacts = {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    serviceAccount: p.spec?.serviceAccountName || 'default',
    labels: p.metadata?.labels ?? {},
  };
  if (p.metadata?.uid) f.uid = p.metadata.uid;
  if (p.spec?.nodeName) f.nodeName = p.spec.nodeName;
  if (p.status?.phase) f.phase = p.status.phase;
  return f;
}

const finished = (p: PodFacts) => p.phase === 'Succeeded' || p.phase === 'Failed';

/** Reads pods from the API server (the CA's default; a cache-backed lookup may replace it). */
export function kubePodLookup(client: KubeClient): PodLookup {
  return {
    async getPod(namespace, name) {
      const p = await client.getOrUndefined<KubeObject>(R.pod, namespace, name);
      return p ? podFacts(p as PodLike) : undefined;
    },
    async podsOnNode(nodeName, namespace) {
      const list = await client.listAll<KubeObject>(R.pod, namespace, { fieldSelector: `spec.nodeName=${nodeName}` });
      return list.items.map((p) => podFacts(p as PodLike)).filter((p) => !finished(p));
    },
  };
}

/** A lookup over an in-memory list (tests, or an informer cache). */
export function staticPodLookup(pods: () => Iterable<PodFacts>): PodLookup {
  return {
    async getPod(namespace, name) {
      for (const p of pods()) if (p.namespace === namespace && p.name === name) return p;
      return undefined;
    },
    async podsOnNode(nodeName, namespace) {
      return [...pods()].filter((p) => p.nodeName === nodeName && p.namespace === namespace && !finished(p));
    },
  };
}
