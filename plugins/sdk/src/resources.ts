// Kubernetes objects the waypoint was configured with (AuthorizationPolicy, HTTPRoute, VirtualService,
// DestinationRule, WaypointPlugin, ...), as plain objects. Plugins read them through token RESOURCES.

import { resourceKey } from '@ambit/mesh-api/model';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  uid?: string;
  creationTimestamp?: string;
}

export interface K8sObject<Spec = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
}

export interface ResourceReader {
  /** Bumped whenever the set changes: plugins cache per version. */
  readonly version: number;
  /**
   * The set's `version` when objects of any of these kinds last changed (0: never). A plugin that reads only some
   * kinds caches on this, so a change to other kinds (a workload's AuthorizationPolicy, say) keeps its cache.
   */
  versionOf(kinds: readonly string[]): number;
  /** Objects of a kind (`HTTPRoute`, `AuthorizationPolicy`, ...), optionally of one API group. */
  list<Spec = unknown>(kind: string, group?: string): K8sObject<Spec>[];
  /** Called after every change. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

export function apiGroup(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/**
 * An in-memory {@link ResourceReader}: `replace` swaps the whole set, `apply` changes it in place (a pushed delta).
 * Objects are keyed by mesh-api's `resourceKey` (`Kind.group/ns/name`): one object per key, the last one given.
 */
export class InMemoryResources implements ResourceReader {
  version = 0;
  /** kind -> the version at which its objects last changed (kept after its last object is gone) */
  #kindVersions = new Map<string, number>();
  /** kind -> resourceKey -> object */
  #objects = new Map<string, Map<string, K8sObject>>();
  /** kind -> its objects in Istio's order (see {@link compareObjects}); rebuilt only for the kinds that change */
  #byKind = new Map<string, K8sObject[]>();
  #listeners = new Set<() => void>();

  constructor(objects: K8sObject[] = []) {
    this.replace(objects);
  }

  replace(objects: K8sObject[]): void {
    // Every kind there before or after counts as changed: comparing the sets would cost what replacing them does.
    const touched = new Set(this.#objects.keys());
    this.#objects.clear();
    this.#byKind.clear();
    for (const o of objects) this.#put(o);
    for (const kind of this.#objects.keys()) {
      touched.add(kind);
      this.#sort(kind);
    }
    this.#changed(touched);
  }

  /**
   * Removes the objects of `removed` (resourceKeys; unknown ones are ignored), then adds or replaces `upserts`.
   * Only the kinds touched are re-sorted; listeners run once, and not at all when nothing was there to change.
   */
  apply(upserts: K8sObject[], removed: string[] = []): void {
    const touched = new Set<string>();
    for (const key of removed) {
      for (const [kind, objects] of this.#objects) {
        if (objects.delete(key)) {
          touched.add(kind);
          break;
        }
      }
    }
    for (const o of upserts) if (this.#put(o)) touched.add(o.kind);
    if (touched.size === 0) return;
    for (const kind of touched) this.#sort(kind);
    this.#changed(touched);
  }

  versionOf(kinds: readonly string[]): number {
    let v = 0;
    for (const kind of kinds) v = Math.max(v, this.#kindVersions.get(kind) ?? 0);
    return v;
  }

  all(): K8sObject[] {
    return [...this.#byKind.values()].flat();
  }

  list<Spec = unknown>(kind: string, group?: string): K8sObject<Spec>[] {
    const list = (this.#byKind.get(kind) ?? []) as K8sObject<Spec>[];
    return group === undefined ? list : list.filter((o) => apiGroup(o.apiVersion) === group);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #put(o: K8sObject): boolean {
    if (!o || typeof o !== 'object' || !o.kind || typeof o.apiVersion !== 'string' || !o.metadata?.name) return false;
    let objects = this.#objects.get(o.kind);
    if (!objects) this.#objects.set(o.kind, (objects = new Map()));
    objects.set(resourceKey(o), o);
    return true;
  }

  /** A new list for `kind` (plugins may hold the old one), or none when it has no objects left. */
  #sort(kind: string): void {
    const objects = this.#objects.get(kind);
    if (objects?.size) {
      this.#byKind.set(kind, [...objects.values()].sort(compareObjects));
    } else {
      this.#objects.delete(kind);
      this.#byKind.delete(kind);
    }
  }

  #changed(kinds: Set<string>): void {
    this.version++;
    for (const kind of kinds) this.#kindVersions.set(kind, this.version);
    for (const l of this.#listeners) l();
  }
}

/** Istio's order: creation time, then namespace/name; then API group, so the order depends on the set alone. */
export function compareObjects(a: K8sObject, b: K8sObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
  if (ka !== kb) return ka < kb ? -1 : 1;
  const ga = apiGroup(a.apiVersion);
  const gb = apiGroup(b.apiVersion);
  return ga < gb ? -1 : ga > gb ? 1 : 0;
}
