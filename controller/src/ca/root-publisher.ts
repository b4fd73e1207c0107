// Publishes the mesh root to every namespace as ConfigMap `istio-ca-root-cert` (key `root-cert.pem`), as istiod's
// namespace controller does, and puts it back when someone edits or deletes it.

import { CoreV1Api, KubernetesObjectApi, PatchStrategy, makeInformer, type KubeConfig, type V1ConfigMap, type V1Namespace } from '@kubernetes/client-node';
import type { ComponentLogger } from './log.js';

export const ROOT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CONFIGMAP_KEY = 'root-cert.pem';
export const FIELD_MANAGER = 'ambit-ca';

export function rootConfigMap(namespace: string, rootPem: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: ROOT_CONFIGMAP, namespace, labels: { 'istio.io/config': 'true' } },
    data: { [ROOT_CONFIGMAP_KEY]: rootPem },
  };
}

export class RootCertPublisher {
  readonly #kc: KubeConfig;
  readonly #root: () => string;
  readonly #log: ComponentLogger;
  readonly #objects: KubernetesObjectApi;
  #nsInformer: ReturnType<typeof makeInformer<V1Namespace>> | undefined;
  #cmInformer: ReturnType<typeof makeInformer<V1ConfigMap>> | undefined;
  readonly #queue = new Set<string>();
  readonly #failures = new Map<string, number>();
  #running = false;
  #draining = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, root: () => string, log: ComponentLogger) {
    this.#kc = kc;
    this.#root = root;
    this.#log = log;
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
  }

  async start(): Promise<void> {
    this.#running = true;
    const core = this.#kc.makeApiClient(CoreV1Api);
    this.#nsInformer = makeInformer<V1Namespace>(this.#kc, '/api/v1/namespaces', () => core.listNamespace());
    this.#cmInformer = makeInformer<V1ConfigMap>(
      this.#kc,
      '/api/v1/configmaps',
      () => core.listConfigMapForAllNamespaces({ labelSelector: 'istio.io/config=true' }),
      'istio.io/config=true',
    );
    const nsChanged = (ns: V1Namespace) => this.enqueue(ns.metadata?.name);
    this.#nsInformer.on('add', nsChanged);
    this.#nsInformer.on('update', nsChanged);
    const cmChanged = (cm: V1ConfigMap) => {
      if (cm.metadata?.name === ROOT_CONFIGMAP) this.enqueue(cm.metadata.namespace);
    };
    this.#cmInformer.on('update', cmChanged);
    this.#cmInformer.on('delete', cmChanged);
    for (const inf of [this.#nsInformer, this.#cmInformer]) {
      inf.on('error', () => {
        // client-node's informer stops on error; restart it after a pause.
        if (this.#running) setTimeout(() => void inf.start().catch(() => {}), 2000).unref();
      });
    }
    await Promise.all([this.#cmInformer.start(), this.#nsInformer.start()]);
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await Promise.all([this.#nsInformer?.stop(), this.#cmInformer?.stop()]);
  }

  /** Re-publishes to every known namespace (after the root changed). */
  republishAll(): void {
    for (const ns of this.#nsInformer?.list() ?? []) this.enqueue(ns.metadata?.name);
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
          const delay = Math.min(30_000, 100 * 2 ** n);
          this.#log.warn('publishing the root certificate failed; retrying', { namespace: ns, error: (err as Error).message, delayMs: delay });
          setTimeout(() => this.enqueue(ns), delay).unref();
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #reconcile(namespace: string): Promise<void> {
    const ns = this.#nsInformer?.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') return;
    const root = this.#root();
    const existing = this.#cmInformer?.get(ROOT_CONFIGMAP, namespace);
    if (existing?.data?.[ROOT_CONFIGMAP_KEY] === root && existing.metadata?.labels?.['istio.io/config'] === 'true') return;
    await this.#objects.patch(rootConfigMap(namespace, root), undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    this.#log.info('published root certificate', { namespace, configMap: ROOT_CONFIGMAP });
  }
}
