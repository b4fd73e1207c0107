// The modelled Pods, indexed for the builders: by namespace, by `ns/name`, and by one `key=value` label so a
// Service's or policy's selector is matched without scanning its namespace.
import type { Pod } from './input.js';
import { listIn, nsName } from './model.js';
import { matchLabels } from './policies.js';
import { isModelledPod } from './workloads.js';

export class PodIndex {
  /** The modelled pods (scheduled, with an IP, not finished), in input order. */
  readonly pods: Pod[];
  readonly #byNs = new Map<string, Pod[]>();
  readonly #byLabel = new Map<string, Pod[]>();
  readonly #byNsName = new Map<string, Pod>();

  constructor(
    pods: Pod[],
    readonly clusterId: string,
  ) {
    this.pods = pods.filter(isModelledPod);
    for (const p of this.pods) {
      listIn(this.#byNs, p.metadata.namespace!).push(p);
      this.#byNsName.set(nsName(p), p);
      for (const [k, v] of Object.entries(p.metadata.labels ?? {})) listIn(this.#byLabel, `${p.metadata.namespace}\u0000${k}=${v}`).push(p);
    }
  }

  /** The workload uid of a pod, as istiod names it. */
  uidOf(p: Pod): string {
    return `${this.clusterId}//Pod/${p.metadata.namespace}/${p.metadata.name}`;
  }

  /** Namespaces that have modelled pods. */
  namespaces(): string[] {
    return [...this.#byNs.keys()];
  }

  byName(ns: string, name: string): Pod | undefined {
    return this.#byNsName.get(`${ns}/${name}`);
  }

  /** The pods of `ns` whose labels match `selector` (all of the namespace for an empty one). */
  select(ns: string, selector: Record<string, string>): Pod[] {
    const entries = Object.entries(selector);
    if (!entries.length) return this.#byNs.get(ns) ?? [];
    let best: Pod[] | undefined;
    for (const [k, v] of entries) {
      const c = this.#byLabel.get(`${ns}\u0000${k}=${v}`) ?? [];
      if (!best || c.length < best.length) best = c;
    }
    return best!.filter((p) => matchLabels(selector, p.metadata.labels ?? {}));
  }
}
