// The node agent's pod logic (Istio's istio-cni "ambient" agent): the CNI plugin's ADD / DEL and the informers'
// view of running pods both go through one NodeAgent (inpod/node-agent.ts: per-pod queue, retries, rules,
// annotation). What this layer adds:
//   - the netns: CNI_NETNS from the plugin's ADD; for pods that were running before (agent restart, node reboot,
//     namespace labelled later) a process of the pod found through /proc (proc-netns.ts), the NodeAgent's resolver;
//   - the hooks hand the pod to ztunnel over ZDS (addWorkload first, then the rules; with no ztunnel connected the
//     rules go in anyway and the pod waits in ZDS's snapshot: Istio's partial add) and keep the host's probe SNAT
//     (probe-snat.ts) in step;
//   - stop() without uninstall leaves ztunnel serving its pods (an agent restart must not stop traffic).
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Namespace, type V1Pod } from '@kubernetes/client-node';
import { logger, type LevelLogger } from '@ambit/mesh-api';
import { type NamespaceLike, type PodLike, podIp } from '../inpod/enrollment.js';
import type { Netns } from '../inpod/netns.js';
import { type Dataplane, type EnrolledPod, NodeAgent, type PodAnnotator } from '../inpod/node-agent.js';
import type { InpodRulesConfig } from '../inpod/iptables.js';
import type { AddAnswer, PluginEvent } from './plugin/config.js';
import type { ProbeSnat } from './probe-snat.js';
import { findPodNetns } from './proc-netns.js';

import type { WorkloadInfo } from '../zds/protocol.js';
import { ZdsNotConnectedError } from '../zds/server.js';

export type { WorkloadInfo };

/** The part of src/zds's `ZdsServer` the agent uses. */
export interface WorkloadSink {
  readonly connected: boolean;
  addWorkload(info: WorkloadInfo, netns: Netns): Promise<void>;
  removeWorkload(uid: string): Promise<void>;
}

/** Live reads (the informer may lag behind a pod that is just being created). */
export interface LiveReader {
  pod(namespace: string, name: string): Promise<V1Pod | PodLike | undefined>;
  namespace(name: string): Promise<V1Namespace | NamespaceLike | undefined>;
}

const is404 = (e: unknown) => (e as { code?: number }).code === 404;

export function kubeLiveReader(kc: KubeConfig): LiveReader {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    pod: (namespace, name) => core.readNamespacedPod({ namespace, name }).catch((e) => (is404(e) ? undefined : Promise.reject(e))),
    namespace: (name) => core.readNamespace({ name }).catch((e) => (is404(e) ? undefined : Promise.reject(e))),
  };
}

/**
 * Istio's uninstall rule: the agent's DaemonSet is gone or being deleted (a restart or upgrade keeps it). An uninstall
 * may also have removed our ServiceAccount or RBAC before this pod ends (401/403): that counts as removed too. Any
 * other failure (API unreachable) counts as a restart: leaving the plugin installed is the safe side.
 */
export async function daemonSetBeingRemoved(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  try {
    const ds = await kc.makeApiClient(AppsV1Api).readNamespacedDaemonSet({ namespace, name });
    return !!ds.metadata?.deletionTimestamp;
  } catch (e) {
    const code = (e as { code?: number }).code;
    return code === 404 || code === 401 || code === 403;
  }
}

/** ZDS's "no ztunnel connected" rejection. */
export const isZdsNotConnected = (e: unknown): boolean => e instanceof ZdsNotConnectedError;

export interface CniAgentOptions {
  nodeName: string;
  /** Informers over this node's pods and all namespaces, live reads, annotations. */
  kubeConfig?: KubeConfig;
  reader?: LiveReader;
  annotate?: PodAnnotator;
  zds: WorkloadSink;
  isNotConnected?: (e: unknown) => boolean;
  /** null: no probe SNAT (tests). */
  probeSnat: ProbeSnat | null;
  dataplane?: Dataplane;
  rules?: Partial<InpodRulesConfig>;
  /** For pods with no CNI ADD seen (default: /proc scan). */
  netnsResolver?: (uid: string) => string | undefined;
  retryMs?: number;
  log?: LevelLogger;
}

export class CniAgent {
  readonly nodeAgent: NodeAgent;
  readonly #o: CniAgentOptions;
  readonly #log: LevelLogger;
  readonly #reader: LiveReader | undefined;
  readonly #ips = new Map<string, string>();
  #detaching = false;

  constructor(opts: CniAgentOptions) {
    this.#o = opts;
    this.#log = opts.log ?? logger('cni::agent');
    this.#reader = opts.reader ?? (opts.kubeConfig ? kubeLiveReader(opts.kubeConfig) : undefined);
    const notConnected = opts.isNotConnected ?? isZdsNotConnected;
    this.nodeAgent = new NodeAgent({
      nodeName: opts.nodeName,
      ...(opts.kubeConfig ? { kubeConfig: opts.kubeConfig } : {}),
      ...(opts.annotate ? { annotate: opts.annotate } : {}),
      ...(opts.dataplane ? { dataplane: opts.dataplane } : {}),
      ...(opts.rules ? { rules: opts.rules } : {}),
      ...(opts.retryMs !== undefined ? { retryMs: opts.retryMs } : {}),
      netnsResolver: opts.netnsResolver ?? ((uid) => findPodNetns(uid)),
      log: this.#log,
      hooks: {
        onPodAdded: async (pod: EnrolledPod, netns: Netns) => {
          const info: WorkloadInfo = { uid: pod.uid, name: pod.name, namespace: pod.namespace, serviceAccount: pod.serviceAccount, ip: pod.ip };
          try {
            await opts.zds.addWorkload(info, netns);
          } catch (e) {
            if (!notConnected(e)) throw new Error(`ztunnel refused the pod: ${(e as Error).message}`);
            this.#log.info(`no ztunnel connected; pod redirected, ztunnel gets it when it connects uid=${pod.uid} name=${pod.name} namespace=${pod.namespace}`);
          }
          this.#ips.set(pod.uid, pod.ip);
          await opts.probeSnat?.add(pod.uid, pod.ip);
        },
        onPodRemoved: async (uid: string) => {
          if (this.#detaching) return;
          const ip = this.#ips.get(uid);
          this.#ips.delete(uid);
          if (ip) await opts.probeSnat?.remove(uid, ip);
          try {
            await opts.zds.removeWorkload(uid);
          } catch (e) {
            if (!notConnected(e)) throw e;
          }
        },
      },
    });
  }

  /** Probe chain, informers (pods running before the agent are enrolled again), then stale probe rules pruned. */
  async start(): Promise<void> {
    await this.#o.probeSnat?.start();
    if (this.#o.kubeConfig) await this.nodeAgent.start();
    await this.nodeAgent.whenIdle();
    await this.#o.probeSnat?.prune(this.nodeAgent.enrolled().map((p) => p.uid));
  }

  /** CNI ADD: decide with the live pod; an ambient pod is in the mesh when this resolves. Throws a one-line reason. */
  async handleAdd(ev: PluginEvent): Promise<AddAnswer> {
    if (!this.#reader) throw new Error('the agent has no API access to read the pod');
    const [pod, ns] = await Promise.all([this.#reader.pod(ev.podNamespace, ev.podName), this.#reader.namespace(ev.podNamespace)]);
    const id = `uid=${ev.podUid || pod?.metadata?.uid || ''} name=${ev.podName} namespace=${ev.podNamespace}`;
    if (!pod) {
      this.#log.info(`CNI add for a pod the API server does not know, ignored ${id}`);
      return { enrolled: false, reason: 'pod-not-found' };
    }
    if (ev.podUid && pod.metadata?.uid && ev.podUid !== pod.metadata.uid) {
      this.#log.info(`CNI add for an older pod of the same name, ignored ${id}`);
      return { enrolled: false, reason: 'pod-replaced' };
    }
    const ip = ev.ips.find((i) => !i.includes(':')) ?? podIp(pod);
    let r;
    try {
      r = await this.nodeAgent.enrollNow(pod, ns, { netnsPath: ev.netns, ...(ip ? { ip } : {}) });
    } catch (e) {
      const msg = (e as Error).message;
      if (/^netns .* not found$/.test(msg)) {
        throw new Error(`${msg} in the agent: mount the host dir the runtime creates pod netns in (/var/run/netns) into the agent with mountPropagation HostToContainer`);
      }
      throw e;
    }
    if (r.enrolled && !this.#o.zds.connected) {
      this.#log.info(`CNI add done without ztunnel (partial add) ${id}`);
      return { enrolled: true, reason: 'partial' };
    }
    this.#log.info(`CNI add ${r.enrolled ? 'enrolled' : 'not enrolled'} ${id} netns=${ev.netns} reason=${r.reason}`);
    return r;
  }

  /** CNI DEL: the sandbox goes away; its proxy stops. The informer handles the pod itself. */
  async handleDel(ev: PluginEvent): Promise<void> {
    const uid = ev.podUid || (await this.#reader?.pod(ev.podNamespace, ev.podName).catch(() => undefined))?.metadata?.uid;
    if (uid) await this.nodeAgent.sandboxDeleted(uid, ev.netns);
  }

  /**
   * Restart/upgrade (default): stop watching, leave rules, annotations, probe rules and ztunnel's pods in place.
   * Uninstall: un-enroll every pod (rules and annotations removed, ztunnel told) and remove the probe chain.
   */
  async stop(opts: { uninstall?: boolean } = {}): Promise<void> {
    if (opts.uninstall) {
      await this.nodeAgent.stop({ unenroll: true });
      await this.#o.probeSnat?.cleanup();
      return;
    }
    this.#detaching = true;
    await this.nodeAgent.stop({ keepProxies: true });
  }
}
