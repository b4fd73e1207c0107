// One informer per resource kind (and selector) for the whole process: components ask the set for the informers
// they read instead of making their own, so a Service, a Namespace or a Gateway is listed and watched once however
// many components read it. The set owns the informers: a component given a set does not stop them; whoever made
// the set stops it.
import type { KubeClient } from './client.js';
import { Informer } from './informer.js';
import type { Logger } from '@ambit/mesh-api';
import type { Registry } from './metrics.js';
import type { KubeObject, ResourceType } from './resources.js';

type Transform = (obj: KubeObject) => KubeObject;

export interface InformerSetOptions {
  log?: Logger;
  registry?: Registry;
  /** Replay every object as an update this often, in every informer of the set (0 or absent: never). */
  resyncMs?: number;
  /**
   * What every informer of the set keeps of an object of type `rt` (default: all but managedFields). One per set,
   * so what a cached object holds does not depend on which component asked first.
   */
  transform?: (rt: ResourceType) => Transform;
}

export interface SharedInformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Applied after the set's transform; a kind asked for twice must be asked with the same function. */
  transform?: Transform;
}

const stripManagedFields: Transform = (o) => {
  if (o.metadata?.managedFields) delete o.metadata.managedFields;
  return o;
};

/** `group/plural` plus namespace and selectors: the version does not matter (one watch per kind). */
export function informerKey(rt: ResourceType, opts: SharedInformerOptions = {}): string {
  const scope = [opts.namespace ?? '', opts.labelSelector ?? '', opts.fieldSelector ?? ''].join('|');
  return `${rt.group || 'core'}/${rt.plural}${scope === '||' ? '' : `|${scope}`}`;
}

export class InformerSet {
  readonly client: KubeClient;
  readonly #opts: InformerSetOptions;
  readonly #informers = new Map<string, { informer: Informer; transform?: Transform }>();

  constructor(client: KubeClient, opts: InformerSetOptions = {}) {
    this.client = client;
    this.#opts = opts;
  }

  /** The informer of `rt` with these selectors, made on first use (not started: `start()` it, it starts once). */
  informer<T extends KubeObject = KubeObject>(rt: ResourceType, opts: SharedInformerOptions = {}): Informer<T> {
    const key = informerKey(rt, opts);
    const known = this.#informers.get(key);
    if (known) {
      if (known.transform !== opts.transform) throw new Error(`informer ${key} asked for with a different transform`);
      return known.informer as unknown as Informer<T>;
    }
    const base = this.#opts.transform?.(rt) ?? stripManagedFields;
    const extra = opts.transform;
    const informer = new Informer<T>(this.client, rt, {
      namespace: opts.namespace,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resyncMs: this.#opts.resyncMs,
      log: this.#opts.log,
      registry: this.#opts.registry,
      transform: extra ? (o) => extra(base(o)) : base,
    });
    this.#informers.set(key, { informer: informer as unknown as Informer, transform: extra });
    return informer;
  }

  /** The keys of the informers made so far (logs, tests). */
  keys(): string[] {
    return [...this.#informers.keys()];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.informer.stop()));
  }
}
