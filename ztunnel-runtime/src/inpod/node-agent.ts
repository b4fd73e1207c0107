// The node-agent role (istio-cni's job): watch this node's Pods and all Namespaces, decide enrollment
// (enrollment.ts), and for each enrolled pod:
//   enroll:   open its netns -> onPodAdded (ztunnel brings its listeners up) -> in-pod rules -> annotation
//             `ambient.istio.io/redirection: enabled` (merge patch on pods/status, like Istio; falls back to the pod
//             itself when RBAC forbids the subresource).
//   un-enroll (labels changed, pod finished): rules removed -> annotation removed -> onPodRemoved (drain).
//   pod deleted: onPodRemoved (the netns is going away with the sandbox; rules are removed if it is still there).
// Listeners go up before the rules so no connection is redirected to a port nobody listens on; the rules go away
// before the drain so new connections go direct while old ones finish. Pods are never restarted.
// Its user is the node agent DaemonSet (src/cni/cni-agent.ts): the hooks hand the pod to ztunnel over ZDS, and
// `enrollNow` / `sandboxDeleted` serve the CNI plugin's ADD / DEL through the same per-pod queue. The class assumes
// nothing about where a runtime keeps network namespaces: a pod's netns is the CNI_NETNS its ADD reported, or
// whatever the caller's `netnsResolver` finds (the agent's: a process of the pod, through /proc).
import fs from 'node:fs';
import {
  CoreV1Api,
  type KubeConfig,
  ListWatch,
  PatchStrategy,
  type V1Namespace,
  type V1Pod,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Backoff, logger, type LevelLogger } from '@ambit/mesh-api';
import {
  type NamespaceLike,
  type PodLike,
  enrollmentDecision,
  podIp,
  podMarkedEnrolled,
  redirectionPatch,
  REDIRECTION_ANNOTATION,
  REDIRECTION_ENABLED,
} from './enrollment.js';
import { type InpodRulesConfig, applyRules, removeRules } from './iptables.js';
import { Netns } from './netns.js';

/** What the proxy learns about a pod it must serve (ZDS `WorkloadInfo` plus the IP and netns path). */
export interface EnrolledPod {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  ip: string;
  netnsPath: string;
}

export interface NodeAgentHooks {
  /**
   * Start the pod's proxy: typically `PodProxyListeners.start(netns, …)` plus a socket factory from
   * `createPodSocketFactory(netns)`. The agent owns `netns` and closes it after `onPodRemoved` resolves.
   * Throwing aborts the enrollment (retried later).
   */
  onPodAdded(pod: EnrolledPod, netns: Netns): Promise<void> | void;
  /** Drain and stop the pod's proxy (close the listeners, let open connections finish). */
  onPodRemoved(uid: string): Promise<void> | void;
}

/** The in-netns side effects, replaceable in unit tests. */
export interface Dataplane {
  exists(netnsPath: string): boolean;
  /** nsfs inode behind the path (undefined: gone or unknown): a changed inode means a new sandbox. */
  inode?(netnsPath: string): number | undefined;
  open(netnsPath: string): Netns;
  applyRules(netnsPath: string, cfg: Partial<InpodRulesConfig>): Promise<void>;
  removeRules(netnsPath: string, cfg: Partial<InpodRulesConfig>): Promise<void>;
}

export const realDataplane: Dataplane = {
  exists: (p) => fs.existsSync(p),
  inode: (p) => {
    try {
      return fs.statSync(p).ino;
    } catch {
      return undefined;
    }
  },
  open: (p) => Netns.open(p),
  applyRules,
  removeRules,
};

/** Sets (`enabled`) or removes (`null`) the pod's redirection annotation. */
export type PodAnnotator = (namespace: string, name: string, value: string | null) => Promise<void>;

export interface NodeAgentOptions {
  /** This node (NODE_NAME): only pods with `spec.nodeName` equal to it are handled. */
  nodeName: string;
  hooks: NodeAgentHooks;
  /** Watch Pods and Namespaces with it (and annotate through it unless `annotate` is given). */
  kubeConfig?: KubeConfig;
  annotate?: PodAnnotator;
  dataplane?: Dataplane;
  /**
   * Finds the netns path of a pod no CNI ADD told us about (a pod running before the agent started, or labelled
   * later); there is no default location. Undefined: not found (yet): the enrollment is retried with backoff.
   */
  netnsResolver: (uid: string, pod: V1Pod | PodLike | undefined) => string | undefined;
  rules?: Partial<InpodRulesConfig>;
  /** First retry delay after a failed enrollment; doubles up to 30 s. */
  retryMs?: number;
  log?: LevelLogger;
}

interface PodEntry {
  info: EnrolledPod;
  netns: Netns;
}

/** A pod sandbox reported by the CNI plugin: its netns path and the IP the primary CNI gave it. */
export interface SandboxInfo {
  netnsPath: string;
  ip?: string;
}

/** Thrown by `enrollNow` when the pod wants ambient but could not be put into the mesh. */
export class EnrollmentError extends Error {
  override name = 'EnrollmentError';
}

export class NodeAgent {
  readonly #opts: NodeAgentOptions;
  readonly #dp: Dataplane;
  readonly #log: LevelLogger;
  readonly #annotate: PodAnnotator | undefined;
  readonly #pods = new Map<string, V1Pod | PodLike>();
  readonly #namespaces = new Map<string, V1Namespace | NamespaceLike>();
  readonly #enrolled = new Map<string, PodEntry>();
  readonly #queues = new Map<string, Promise<void>>();
  /** The reconcile waiting behind the running one, per uid, and its outcome (an error when enrolling failed). */
  readonly #pending = new Map<string, Promise<Error | undefined>>();
  /** Sandboxes the CNI plugin reported (ADD), per pod uid. */
  readonly #sandboxes = new Map<string, SandboxInfo>();
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();
  readonly #retryBackoff = new Map<string, Backoff>();
  readonly #informers: ListWatch<V1Pod | V1Namespace>[] = [];
  #stopped = false;

  constructor(opts: NodeAgentOptions) {
    this.#opts = opts;
    this.#dp = opts.dataplane ?? realDataplane;
    this.#log = opts.log ?? logger('inpod::statemanager');
    this.#annotate = opts.annotate ?? (opts.kubeConfig ? kubeAnnotator(opts.kubeConfig, this.#log) : undefined);
  }

  /** Starts watching (needs `kubeConfig`). Resolves after the first list of both resources. */
  async start(): Promise<void> {
    const kc = this.#opts.kubeConfig;
    if (!kc) throw new Error('NodeAgent.start needs kubeConfig (or feed it with podUpserted/namespaceUpserted)');
    const core = kc.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${this.#opts.nodeName}`;
    const watch = new Watch(kc);
    const nsInformer = new ListWatch<V1Namespace>('/api/v1/namespaces', watch, () => core.listNamespace(), false);
    const podInformer = new ListWatch<V1Pod>('/api/v1/pods', watch, () => core.listPodForAllNamespaces({ fieldSelector }), false, undefined, fieldSelector);
    for (const verb of ['add', 'update'] as const) {
      nsInformer.on(verb, (ns) => this.namespaceUpserted(ns));
      podInformer.on(verb, (p) => this.podUpserted(p));
    }
    nsInformer.on('delete', (ns) => this.namespaceDeleted(ns));
    podInformer.on('delete', (p) => this.podDeleted(p));
    for (const inf of [nsInformer, podInformer] as ListWatch<V1Pod | V1Namespace>[]) {
      inf.on('error', (err) => {
        if (this.#stopped) return;
        this.#log.warn(`watch failed, restarting: ${(err as Error | undefined)?.message ?? err}`);
        setTimeout(() => void (this.#stopped ? undefined : inf.start().catch(() => undefined)), 1000).unref();
      });
      this.#informers.push(inf);
    }
    // Namespaces first, so the first pod events are decided with their namespace's labels.
    await nsInformer.start();
    await podInformer.start();
  }

  /**
   * Stops watching and stops every pod's proxy. With `unenroll`, also removes rules and annotations (a clean
   * uninstall); without it the pods stay redirected, as Istio's do while ztunnel restarts.
   */
  async stop(opts: { unenroll?: boolean; keepProxies?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    await Promise.all(this.#informers.map((i) => i.stop().catch(() => undefined)));
    await this.whenIdle();
    for (const uid of [...this.#enrolled.keys()]) {
      if (opts.unenroll) await this.#unenroll(uid, this.#pods.get(uid), true);
      else if (opts.keepProxies) this.#detach(uid);
      else await this.#stopProxy(uid);
    }
  }

  /**
   * The CNI plugin's ADD: decides with the given (live) pod and namespace and, if the pod wants ambient, enrolls it in
   * `sandbox` before answering. Serialized with the informer's work on the same pod. Throws {@link EnrollmentError}
   * with a one-line reason when the pod wants ambient and could not be enrolled.
   */
  async enrollNow(pod: V1Pod | PodLike, namespace: V1Namespace | NamespaceLike | undefined, sandbox: SandboxInfo): Promise<{ enrolled: boolean; reason: string }> {
    const uid = pod.metadata?.uid;
    if (!uid) throw new EnrollmentError('the pod has no uid');
    const nsName = pod.metadata?.namespace;
    if (namespace && nsName) this.#namespaces.set(nsName, namespace);
    this.#sandboxes.set(uid, sandbox);
    this.#pods.set(uid, pod);
    const decision = enrollmentDecision(pod, namespace);
    const err = await this.#schedule(uid);
    if (!decision.enroll) return { enrolled: false, reason: decision.reason };
    if (err) throw new EnrollmentError(err.message);
    const entry = this.#enrolled.get(uid);
    if (!entry || !this.#sameNetns(entry, sandbox.netnsPath)) {
      throw new EnrollmentError(`pod ${nsName}/${pod.metadata?.name} was not enrolled in ${sandbox.netnsPath} (its state changed meanwhile)`);
    }
    return { enrolled: true, reason: decision.reason };
  }

  /**
   * The CNI plugin's DEL: the sandbox (netns) is going away. Stops the proxy serving it (no rule work: the netns
   * dies with the sandbox). An empty `netnsPath` matches any sandbox of the pod.
   */
  async sandboxDeleted(uid: string, netnsPath: string): Promise<void> {
    const sb = this.#sandboxes.get(uid);
    if (sb && (!netnsPath || sb.netnsPath === netnsPath)) this.#sandboxes.delete(uid);
    await this.#enqueue(uid, async () => {
      const entry = this.#enrolled.get(uid);
      if (entry && (!netnsPath || entry.info.netnsPath === netnsPath)) {
        this.#log.info(`pod sandbox deleted, stopping proxy uid=${uid} name=${entry.info.name} namespace=${entry.info.namespace}`);
        await this.#stopProxy(uid);
      }
    });
  }

  // Event inputs (the informers call these; unit tests may too).
  podUpserted(pod: V1Pod | PodLike): void {
    const uid = pod.metadata?.uid;
    if (!uid || (pod.spec?.nodeName && pod.spec.nodeName !== this.#opts.nodeName)) return;
    this.#pods.set(uid, pod);
    void this.#schedule(uid);
  }

  podDeleted(pod: V1Pod | PodLike): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    this.#pods.delete(uid);
    void this.#schedule(uid);
  }

  namespaceUpserted(ns: V1Namespace | NamespaceLike): void {
    const name = ns.metadata?.name;
    if (!name) return;
    this.#namespaces.set(name, ns);
    for (const [uid, pod] of this.#pods) if (pod.metadata?.namespace === name) void this.#schedule(uid);
  }

  namespaceDeleted(ns: V1Namespace | NamespaceLike): void {
    const name = ns.metadata?.name;
    if (name) this.#namespaces.delete(name);
  }

  /** Pods whose proxy is running (rules installed, annotation set). */
  enrolled(): EnrolledPod[] {
    return [...this.#enrolled.values()].map((e) => e.info);
  }

  /** Resolves when every queued reconcile has finished (retries scheduled for later are not waited for). */
  async whenIdle(): Promise<void> {
    while (this.#queues.size > 0) await Promise.all([...this.#queues.values()]);
  }

  /** Runs `fn` after everything queued for `uid` (one pod's work never overlaps). */
  #enqueue<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(uid) ?? Promise.resolve();
    const result = prev.then(fn);
    const next: Promise<void> = result
      .then(() => undefined, () => undefined)
      .finally(() => {
        if (this.#queues.get(uid) === next) this.#queues.delete(uid);
      });
    this.#queues.set(uid, next);
    return result;
  }

  /** Queues a reconcile of `uid`; resolves with its outcome (an Error when an enrollment failed). */
  #schedule(uid: string): Promise<Error | undefined> {
    // Reconciles read the latest state when they run: one waiting behind the running one is enough.
    const pending = this.#pending.get(uid);
    if (pending) return pending;
    const result = this.#enqueue(uid, () => {
      this.#pending.delete(uid);
      return this.#reconcile(uid);
    }).catch((e) => {
      this.#log.error(`reconcile failed uid=${uid}: ${(e as Error).message}`);
      return e as Error;
    });
    this.#pending.set(uid, result);
    return result;
  }

  async #reconcile(uid: string): Promise<Error | undefined> {
    if (this.#stopped) return undefined;
    const pod = this.#pods.get(uid);
    if (!pod) this.#sandboxes.delete(uid);
    const entry = this.#enrolled.get(uid);
    const ns = pod ? this.#namespaces.get(pod.metadata?.namespace ?? '') : undefined;
    const want = pod ? enrollmentDecision(pod, ns).enroll : false;
    if (pod && want) {
      if (entry && this.#sandboxReplaced(uid, entry)) {
        // Our fd keeps the old namespace alive: the listeners would serve a netns nobody uses any more.
        this.#log.info(`pod netns replaced, restarting proxy uid=${uid} name=${entry.info.name} namespace=${entry.info.namespace}`);
        await this.#stopProxy(uid);
      } else if (entry) {
        return undefined;
      }
      return this.#enroll(uid, pod);
    }
    this.#clearRetry(uid);
    if (entry || (pod && podMarkedEnrolled(pod))) await this.#unenroll(uid, pod, false);
    return undefined;
  }

  async #enroll(uid: string, pod: V1Pod | PodLike): Promise<Error | undefined> {
    const sandbox = this.#sandboxes.get(uid);
    const ip = podIp(pod) ?? sandbox?.ip;
    if (!ip) return new Error('the pod has no IP yet'); // the pod update that assigns the IP brings us back
    const netnsPath = this.#netnsPath(uid, pod);
    if (!netnsPath || !this.#dp.exists(netnsPath)) {
      const why = netnsPath ? `netns ${netnsPath} not found` : 'no process of the pod found (netns unknown)';
      this.#retryLater(uid, why);
      return new Error(why);
    }
    const info: EnrolledPod = {
      uid,
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      serviceAccount: (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default',
      ip,
      netnsPath,
    };
    let netns: Netns | undefined;
    let added = false;
    try {
      netns = this.#dp.open(netnsPath);
      this.#log.info(`pod received, starting proxy uid=${uid} name=${info.name} namespace=${info.namespace}`);
      await this.#opts.hooks.onPodAdded(info, netns);
      added = true;
      await this.#dp.applyRules(netnsPath, this.#opts.rules ?? {});
      if (!podMarkedEnrolled(pod)) {
        await this.#annotate?.(info.namespace, info.name, REDIRECTION_ENABLED);
        this.#cacheAnnotation(uid, REDIRECTION_ENABLED);
      }
      this.#enrolled.set(uid, { info, netns });
      this.#clearRetry(uid);
      return undefined;
    } catch (e) {
      this.#log.warn(`failed to add pod to mesh uid=${uid} name=${info.name} namespace=${info.namespace}: ${(e as Error).message}`);
      if (added) {
        await this.#dp.removeRules(netnsPath, this.#opts.rules ?? {}).catch(() => undefined);
        await Promise.resolve(this.#opts.hooks.onPodRemoved(uid)).catch(() => undefined);
      }
      netns?.close();
      this.#retryLater(uid, (e as Error).message);
      return e as Error;
    }
  }

  /** With `pod` undefined (deleted) only the proxy stops; `uninstall` also cleans the netns of a live pod we stop. */
  async #unenroll(uid: string, pod: V1Pod | PodLike | undefined, uninstall: boolean): Promise<void> {
    const entry = this.#enrolled.get(uid);
    const netnsPath = entry?.info.netnsPath ?? this.#netnsPath(uid, pod);
    const name = entry?.info.name ?? pod?.metadata?.name ?? '';
    const namespace = entry?.info.namespace ?? pod?.metadata?.namespace ?? '';
    if (entry) this.#log.info(`pod delete request, draining proxy uid=${uid} name=${name} namespace=${namespace}`);
    else this.#log.info(`removing stale redirection uid=${uid} name=${name} namespace=${namespace}`);
    if ((pod || uninstall) && netnsPath && this.#dp.exists(netnsPath)) {
      await this.#dp.removeRules(netnsPath, this.#opts.rules ?? {}).catch((e) => this.#log.warn(`removing rules uid=${uid}: ${(e as Error).message}`));
    }
    if (pod && (podMarkedEnrolled(pod) || entry)) {
      await this.#annotate?.(namespace, name, null).then(
        () => this.#cacheAnnotation(uid, null),
        (e) => this.#log.warn(`removing annotation uid=${uid}: ${(e as Error).message}`),
      );
    }
    await this.#stopProxy(uid);
  }

  /** Reflect our own patch in the cached pod until the watch delivers it (avoids redoing the work). */
  #cacheAnnotation(uid: string, value: string | null): void {
    const pod = this.#pods.get(uid);
    if (!pod?.metadata) return;
    const annotations: Record<string, string> = { ...pod.metadata.annotations };
    if (value === null) delete annotations[REDIRECTION_ANNOTATION];
    else annotations[REDIRECTION_ANNOTATION] = value;
    this.#pods.set(uid, { ...pod, metadata: { ...pod.metadata, annotations } } as V1Pod | PodLike);
  }

  #sandboxReplaced(uid: string, entry: PodEntry): boolean {
    const sandbox = this.#sandboxes.get(uid);
    if (sandbox && !this.#sameNetns(entry, sandbox.netnsPath)) return true; // the CNI reported a new sandbox
    const ino = this.#dp.inode?.(entry.info.netnsPath);
    return ino !== undefined && ino !== entry.netns.inode;
  }

  /** Same path, or another path to the same namespace (e.g. /proc/<pid>/ns/net found before the CNI's path). */
  #sameNetns(entry: PodEntry, netnsPath: string): boolean {
    if (entry.info.netnsPath === netnsPath) return true;
    const ino = this.#dp.inode?.(netnsPath);
    return ino !== undefined && ino === entry.netns.inode;
  }

  #netnsPath(uid: string, pod: V1Pod | PodLike | undefined): string | undefined {
    const sandbox = this.#sandboxes.get(uid);
    if (sandbox) return sandbox.netnsPath;
    return this.#opts.netnsResolver(uid, pod);
  }

  /** Forgets a pod without telling the proxy (the agent stops; ztunnel keeps serving it). */
  #detach(uid: string): void {
    const entry = this.#enrolled.get(uid);
    if (!entry) return;
    this.#enrolled.delete(uid);
    entry.netns.close();
  }

  async #stopProxy(uid: string): Promise<void> {
    const entry = this.#enrolled.get(uid);
    if (!entry) return;
    this.#enrolled.delete(uid);
    try {
      await this.#opts.hooks.onPodRemoved(uid);
    } catch (e) {
      this.#log.warn(`stopping proxy uid=${uid}: ${(e as Error).message}`);
    } finally {
      entry.netns.close();
    }
  }

  #retryLater(uid: string, why: string): void {
    if (this.#stopped || this.#retryTimers.has(uid)) return;
    let backoff = this.#retryBackoff.get(uid);
    if (!backoff) this.#retryBackoff.set(uid, (backoff = new Backoff({ initialMs: this.#opts.retryMs ?? 500, maxMs: 30_000 })));
    const delay = backoff.next();
    this.#log.debug(`retrying enrollment in ${delay}ms uid=${uid}: ${why}`);
    const timer = setTimeout(() => {
      this.#retryTimers.delete(uid);
      void this.#schedule(uid);
    }, delay);
    timer.unref();
    this.#retryTimers.set(uid, timer);
  }

  #clearRetry(uid: string): void {
    clearTimeout(this.#retryTimers.get(uid));
    this.#retryTimers.delete(uid);
    this.#retryBackoff.delete(uid);
  }
}

/**
 * Merge patch of the annotation through `pods/status` (Istio's choice: the node agent only needs
 * `patch pods/status`), falling back to the pod itself when that is forbidden (403).
 */
export function kubeAnnotator(kc: KubeConfig, log: LevelLogger = logger('inpod::statemanager')): PodAnnotator {
  const core = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  let statusForbidden = false;
  return async (namespace, name, value) => {
    const body = redirectionPatch(value);
    if (!statusForbidden) {
      try {
        await core.patchNamespacedPodStatus({ name, namespace, body }, merge);
        return;
      } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === 404) return; // pod gone: nothing to annotate
        if (code !== 403) throw e;
        statusForbidden = true;
        log.info('patching pods/status is forbidden; annotating pods directly');
      }
    }
    try {
      await core.patchNamespacedPod({ name, namespace, body }, merge);
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
    }
  };
}
