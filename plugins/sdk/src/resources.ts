// Kubernetes objects the waypoint was configured with (AuthorizationPolicy, HTTPRoute, VirtualService,
// DestinationRule, WaypointPlugin, ...), as plain objects. Plugins read them through token RESOURCES.

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
  /** Objects of a kind (`HTTPRoute`, `AuthorizationPolicy`, ...), optionally of one API group. */
  list<Spec = unknown>(kind: string, group?: string): K8sObject<Spec>[];
  /** Called after every change. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

export function apiGroup(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** An in-memory {@link ResourceReader}; `replace` swaps the whole set. */
export class InMemoryResources implements ResourceReader {
  version = 0;
  #byKind = new Map<string, K8sObject[]>();
  #listeners = new Set<() => void>();

  constructor(objects: K8sObject[] = []) {
    this.replace(objects);
  }

  replace(objects: K8sObject[]): void {
    this.#byKind.clear();
    for (const o of objects) {
      if (!o || typeof o !== 'object' || !o.kind) continue;
      const list = this.#byKind.get(o.kind) ?? [];
      list.push(o);
      this.#byKind.set(o.kind, list);
    }
    // Istio orders by creation time, then namespace/name.
    for (const list of this.#byKind.values()) list.sort(compareObjects);
    this.version++;
    for (const l of this.#listeners) l();
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
}

export function compareObjects(a: K8sObject, b: K8sObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
