// Status helpers: conditions that keep lastTransitionTime while their status holds and carry observedGeneration,
// status writes through the status subresource, and read-modify-write of shared lists (HTTPRoute
// status.parents) that touches only the entries of one controllerName.
import { KubeClient, KubeError } from './client.js';
import type { Condition, KubeObject, ResourceType } from './resources.js';

/** Kubernetes Time: RFC 3339, seconds precision. */
export const kubeTime = (d: Date = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Merges desired conditions into existing ones: same type+status keeps its lastTransitionTime; a changed status
 * gets `now`. Every desired condition carries observedGeneration. Existing conditions of other types are kept only
 * when keepOthers is set.
 */
export function mergeConditions(existing: Condition[] | undefined, desired: Condition[], now: string, keepOthers = false): Condition[] {
  const old = new Map((existing ?? []).map((c) => [c.type, c]));
  const out: Condition[] = desired.map((d) => {
    const prev = old.get(d.type);
    return { ...d, lastTransitionTime: prev && prev.status === d.status && prev.lastTransitionTime ? prev.lastTransitionTime : now };
  });
  if (keepOthers) for (const c of existing ?? []) if (!desired.some((d) => d.type === c.type)) out.push(c);
  return out;
}

/** Deep equality of plain JSON values, ignoring every `lastTransitionTime`. */
export function sameIgnoringTransitionTimes(a: unknown, b: unknown): boolean {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) if (k !== 'lastTransitionTime') o[k] = strip((v as Record<string, unknown>)[k]);
      return o;
    }
    return v;
  };
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

/** Writes `status` through the status subresource by server-side apply (the field manager owns what it sets). */
export function applyStatus<T extends KubeObject>(client: KubeClient, rt: ResourceType, obj: KubeObject, status: unknown, fieldManager: string): Promise<T> {
  return client.apply<T>(
    rt,
    { apiVersion: obj.apiVersion ?? (rt.group ? `${rt.group}/${rt.version}` : rt.version), kind: obj.kind ?? rt.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace }, status },
    { fieldManager, force: true, subresource: 'status' },
  );
}

export interface RouteParentStatus {
  parentRef: Record<string, unknown>;
  controllerName: string;
  conditions: Condition[];
}

/**
 * Replaces this controller's entries in `status.parents` of a route (an atomic list shared by every controller)
 * and keeps the others, with optimistic concurrency on resourceVersion; retries on conflict.
 */
export async function updateOwnRouteParents(
  client: KubeClient,
  rt: ResourceType,
  namespace: string,
  name: string,
  controllerName: string,
  ours: RouteParentStatus[],
  attempts = 5,
): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    const route = await client.getOrUndefined<KubeObject & { status?: { parents?: RouteParentStatus[] } }>(rt, namespace, name);
    if (!route) return false;
    const parents = route.status?.parents ?? [];
    const next = mergeRouteParents(parents, controllerName, ours, kubeTime());
    if (sameIgnoringTransitionTimes(parents, next)) return false;
    try {
      await client.replace(rt, { ...route, status: { ...(route.status ?? {}), parents: next } }, 'status');
      return true;
    } catch (err) {
      if (!(err instanceof KubeError && err.conflict)) throw err;
    }
  }
  throw new KubeError(`status of ${namespace}/${name}: too many conflicts`, 409, 'Conflict');
}

/** Pure part of updateOwnRouteParents: other controllers' entries untouched, ours replaced (times kept). */
export function mergeRouteParents(existing: RouteParentStatus[], controllerName: string, ours: RouteParentStatus[], now: string): RouteParentStatus[] {
  const others = existing.filter((p) => p.controllerName !== controllerName);
  const mine = existing.filter((p) => p.controllerName === controllerName);
  const same = (a: Record<string, unknown>, b: Record<string, unknown>) => JSON.stringify(a) === JSON.stringify(b);
  return [
    ...others,
    ...ours.map((p) => ({ ...p, conditions: mergeConditions(mine.find((m) => same(m.parentRef, p.parentRef))?.conditions, p.conditions, now) })),
  ];
}
