// Publishes the mesh root to every namespace as ConfigMap `istio-ca-root-cert` (key `root-cert.pem`), as istiod's
// namespace controller does, and puts it back when someone edits or deletes it.

import { backoffDelay } from '@ambit/mesh-api';
import type { KubeClient } from '../kube/client.js';
import type { Informer } from '../kube/informer.js';
import { InformerSet } from '../kube/informers.js';
import { R, type KubeObject } from '../kube/resources.js';
import type { PartialLogger } from '@ambit/mesh-api';

export const ROOT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CONFIGMAP_KEY = 'root-cert.pem';
export const ROOT_CONFIGMAP_LABEL = 'istio.io/config';
export const FIELD_MANAGER = 'ambit-ca';

/** A failed namespace is retried after 200 ms, doubling up to 30 s (the n-th failure waits 100 ms * 2^n). */
const RETRY = { initialMs: 200, maxMs: 30_000 };

type ConfigMap = KubeObject & { data?: Record<string, string> };

export function rootConfigMap(namespace: string, rootPem: string): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: ROOT_CONFIGMAP, namespace, labels: { [ROOT_CONFIGMAP_LABEL]: 'true' } },
    data: { [ROOT_CONFIGMAP_KEY]: rootPem },
  };
}

export class RootCertPublisher {
  readonly #client: KubeClient;
  readonly #root: () => string;
  readonly #log: PartialLogger;
  readonly #namespaces: Informer;
  readonly #configMaps: Informer<ConfigMap>;
  readonly #queue = new Set<string>();
  readonly #failures = new Map<string, number>();
  #running = false;
  #draining = false;

  readonly #ownInformers: InformerSet | undefined;

  /** `informers`: the process's shared set (its owner stops it); without it, informers of its own. */
  constructor(client: KubeClient, root: () => string, log: PartialLogger, informers?: InformerSet) {
    this.#client = client;
    this.#root = root;
    this.#log = log;
    this.#ownInformers = informers ? undefined : new InformerSet(client, { resyncMs: 10 * 60_000 });
    const set = informers ?? this.#ownInformers!;
    this.#namespaces = set.informer(R.namespace);
    this.#configMaps = set.informer<ConfigMap>(R.configMap, { labelSelector: `${ROOT_CONFIGMAP_LABEL}=true` });
    this.#namespaces.on({ add: (ns) => this.enqueue(ns.metadata.name), update: (_o, ns) => this.enqueue(ns.metadata.name) });
    const cmChanged = (cm: ConfigMap) => {
      if (cm.metadata.name === ROOT_CONFIGMAP) this.enqueue(cm.metadata.namespace);
    };
    this.#configMaps.on({ update: (_o, cm) => cmChanged(cm), delete: cmChanged });
  }

  async start(): Promise<void> {
    this.#running = true;
    await this.#configMaps.start();
    await this.#namespaces.start();
    for (const ns of this.#namespaces.list()) this.enqueue(ns.metadata.name);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#ownInformers?.stop();
  }

  /** Re-publishes to every known namespace (after the root changed). */
  republishAll(): void {
    for (const ns of this.#namespaces.list()) this.enqueue(ns.metadata.name);
  }

  /** Resolves when nothing is queued (tests). */
  async idle(): Promise<void> {
    while (this.#queue.size || this.#draining) await new Promise((r) => setTimeout(r, 20));
  }

  enqueue(namespace: string | undefined): void {
    if (!namespace || !this.#running) return;
    this.#queue.add(namespace);
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#queue.size && this.#running) {
        const ns = this.#queue.values().next().value!;
        this.#queue.delete(ns);
        try {
          await this.#reconcile(ns);
          this.#failures.delete(ns);
        } catch (err) {
          const n = (this.#failures.get(ns) ?? 0) + 1;
          this.#failures.set(ns, n);
          const delay = backoffDelay(n - 1, RETRY);
          this.#log.warn('publishing the root certificate failed; retrying', { namespace: ns, error: (err as Error).message, delayMs: delay });
          setTimeout(() => this.enqueue(ns), delay).unref();
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #reconcile(namespace: string): Promise<void> {
    const ns = this.#namespaces.get(namespace) as (KubeObject & { status?: { phase?: string } }) | undefined;
    if (!ns || ns.metadata.deletionTimestamp || ns.status?.phase === 'Terminating') return;
    const root = this.#root();
    const existing = this.#configMaps.get(`${namespace}/${ROOT_CONFIGMAP}`);
    if (existing?.data?.[ROOT_CONFIGMAP_KEY] === root) return;
    await this.#client.apply(R.configMap, rootConfigMap(namespace, root), { fieldManager: FIELD_MANAGER, force: true });
    this.#log.info('published root certificate', { namespace, configMap: ROOT_CONFIGMAP });
  }
}
