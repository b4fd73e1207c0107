// ztunnel in shared (in-pod) mode: the node's proxy for every enrolled pod on it.
//   config      the controller's push stream (ConfigClient -> MeshStore), or a local file
//   identity    CertificateManager over the controller's CA (CaClient, impersonating each pod's service account)
//   pods        only from the node agent DaemonSet (istio-cni-node), which sends each pod and its netns fd over ZDS
//               (src/zds); ztunnel needs no Kubernetes API access and never loads @kubernetes/client-node.
//   per pod     a PodProxy with listeners inside the pod's netns (pod-proxy.ts)
//   telemetry   admin 15000, stats 15020, readiness 15021 in ztunnel's own netns
import { AdminServers } from '../admin/server.js';
import {
  CaClient,
  CertificateManager,
  ConfigClient,
  identityOf,
  logger,
  type CertificateSource,
  type MeshConfig,
  type WorkloadCertificate,
} from '@ambit/mesh-api';
import type { Netns } from '../inpod/netns.js';
import type { EnrolledPod } from '../inpod/node-agent.js';
import { defaultSettings, type ProxySettings } from '../proxy/context.js';
import { loadLocalConfig } from '../state/local.js';
import { MeshStore } from '@ambit/mesh-api';
import { Metrics } from '../telemetry/metrics.js';
import { ZdsClient } from '../zds/client.js';
import type { SharedModeConfig } from './config.js';
import { PodProxy } from './pod-proxy.js';

const log = logger('ztunnel');


/** Where the model comes from: anything with ConfigClient's start/stop/ready/onUpdate shape. */
export interface MeshConfigSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): Promise<MeshConfig>;
  onUpdate(cb: (config: MeshConfig, update: { full: boolean; upserts?: Partial<MeshConfig>; removals?: Record<string, string[]> }) => void): () => void;
  readonly connected?: boolean;
  readonly version?: string;
}

export interface NodeProxyOptions {
  config: SharedModeConfig;
  /** Default: the controller's CA at `config.caAddress`. */
  certificateSource?: CertificateSource;
  /** Default: the push stream at `config.xdsAddress` (or the local file `config.localXdsPath`). */
  configSource?: MeshConfigSource;
}

export class NodeProxy {
  readonly store = new MeshStore();
  readonly metrics = new Metrics();
  readonly certs: CertificateManager;
  readonly settings: ProxySettings;
  readonly #config: SharedModeConfig;
  readonly #source: MeshConfigSource | undefined;
  readonly #caClient: CaClient | undefined;
  readonly #admin: AdminServers;
  readonly #proxies = new Map<string, PodProxy>();
  /** Pods whose proxy is starting (uid -> attempt): a removal meanwhile cancels it. */
  readonly #starting = new Map<string, { attempt: symbol; identity: string }>();
  #zds: ZdsClient | undefined;
  #ready = false;
  #draining = false;
  #stopped: Promise<void> | undefined;

  constructor(opts: NodeProxyOptions) {
    const c = opts.config;
    this.#config = c;
    this.settings = { ...defaultSettings, clusterId: c.clusterId, network: c.network, hbonePort: c.hbonePort };
    const target = { rootCertFile: c.rootCertPath, tokenFile: c.tokenPath };
    if (!opts.certificateSource) this.#caClient = new CaClient({ ...target, address: c.caAddress, validitySeconds: c.secretTtlSeconds, mode: 'impersonate' });
    this.certs = new CertificateManager(opts.certificateSource ?? this.#caClient!, { log: (level, msg) => logger('identity')[level](msg) });
    this.certs.on('updated', (_identity: string, cert: WorkloadCertificate) => {
      for (const p of this.#proxies.values()) p.setCertificate(cert);
    });
    if (opts.configSource) this.#source = opts.configSource;
    else if (!c.localXdsPath) this.#source = new ConfigClient<MeshConfig>({ ...target, address: c.xdsAddress, kind: 'ztunnel', node: c.nodeName, log: logger('xds') });
    this.#source?.onUpdate((cfg, u) => {
      if (u.full || !u.upserts) this.store.applyFull(cfg);
      else this.store.applyDelta(u.upserts, u.removals ?? {});
    });
    this.#admin = new AdminServers({
      ready: () => this.ready,
      configDump: () => this.configDump(),
      metrics: () => this.metrics.render(),
      quit: () => void this.stop(),
    });
  }

  /** Admin servers first (not ready), then the model, then the pods over ZDS; ready once pods are being served. */
  async start(): Promise<Record<string, number>> {
    const c = this.#config;
    const ports = await this.#admin.start({ admin: c.adminAddr, readiness: c.readinessAddr, stats: c.statsAddr });
    if (this.#source) {
      await this.#source.start();
      await this.#source.ready();
      log.info('received initial config', `workloads=${this.store.workloads.size} services=${this.store.services.size} policies=${this.store.policies.size}`);
    } else if (c.localXdsPath) {
      this.store.applyFull(loadLocalConfig(c.localXdsPath));
    }
    await this.#startPodSource();
    this.#ready = true;
    log.info('ready', `node=${c.nodeName} pods=${this.#proxies.size}`);
    return ports;
  }

  /**
   * Pods come in only after the model: a proxy never starts without the config it serves. Ready once the pods
   * already on the node are served (the node agent's ZDS snapshot applied): during a rollout the old ztunnel is
   * stopped only then.
   */
  async #startPodSource(): Promise<void> {
    this.#zds = new ZdsClient({
      socketPath: this.#config.zdsSocket,
      hooks: {
        onPodAdded: (info, netns) => this.#podAdded({ ...info, netnsPath: netns.path }, netns),
        onPodRemoved: (uid) => this.#podRemoved(uid),
      },
    });
    await this.#zds.start();
    await this.#zds.snapshotApplied();
  }

  /** The ZDS client (once started). */
  get zds(): ZdsClient | undefined {
    return this.#zds;
  }

  /** Serving, not draining, and no pod's certificate expired with renewal failing (the manager logs why). */
  get ready(): boolean {
    return this.#ready && !this.#draining && this.certs.expired().length === 0;
  }

  /** Pods served now (uid -> proxy). */
  get proxies(): ReadonlyMap<string, PodProxy> {
    return this.#proxies;
  }

  async #podAdded(pod: EnrolledPod, netns: Netns): Promise<void> {
    if (this.#draining) throw new Error('ztunnel is draining');
    const old = this.#proxies.get(pod.uid);
    if (old) await old.close(0);
    const attempt = Symbol(pod.uid);
    const identity = identityOf({ trustDomain: this.#config.trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccount });
    this.#starting.set(pod.uid, { attempt, identity });
    let proxy: PodProxy;
    try {
      proxy = await PodProxy.start(pod, netns, {
        store: this.store,
        certs: this.certs,
        metrics: this.metrics,
        settings: this.settings,
        trustDomain: this.#config.trustDomain,
        packetMark: this.#config.packetMark,
        poolMaxStreams: this.#config.poolMaxStreams,
        poolIdleMs: this.#config.poolIdleMs,
      });
    } catch (e) {
      // Enrolment failed: the identity fetched (or being fetched) for it is forgotten unless another pod uses it.
      if (this.#starting.get(pod.uid)?.attempt === attempt) this.#starting.delete(pod.uid);
      this.#forgetUnused(identity);
      throw e;
    }
    if (this.#starting.get(pod.uid)?.attempt !== attempt) {
      // Removed (or re-added) while its proxy was starting: this one never serves.
      await proxy.close(0);
      this.#forgetUnused(proxy.identity);
      log.info('proxy not started: pod removed while starting', `uid=${pod.uid} name=${pod.name} namespace=${pod.namespace}`);
      return;
    }
    this.#starting.delete(pod.uid);
    this.#proxies.set(pod.uid, proxy);
    log.info('proxy started', `uid=${pod.uid} name=${pod.name} namespace=${pod.namespace} identity="${proxy.identity}" ip=${pod.ip}`);
  }

  /** Stops renewing `identity` when no served or starting pod uses it. */
  #forgetUnused(identity: string): void {
    if ([...this.#proxies.values()].some((p) => p.identity === identity)) return;
    if ([...this.#starting.values()].some((s) => s.identity === identity)) return;
    this.certs.forget(identity);
  }

  async #podRemoved(uid: string): Promise<void> {
    this.#starting.delete(uid);
    const proxy = this.#proxies.get(uid);
    if (!proxy) return;
    await proxy.close(this.#config.drainDeadlineMs);
    if (this.#proxies.get(uid) === proxy) this.#proxies.delete(uid);
    this.#forgetUnused(proxy.identity);
    log.info('proxy stopped', `uid=${uid} name=${proxy.pod.name} namespace=${proxy.pod.namespace}`);
  }

  /**
   * Graceful drain (SIGTERM): not ready, stop accepting in every pod, let open connections finish up to the drain
   * deadline, then close the ZDS connection. Pods stay redirected (as
   * Istio's do across a ztunnel restart): the next ztunnel on the node picks them up again.
   */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    log.info('draining', `deadline=${this.#config.drainDeadlineMs}ms pods=${this.#proxies.size}`);
    await Promise.all([...this.#proxies.values()].map((p) => p.close(this.#config.drainDeadlineMs)));
    await this.#zds?.stop();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await this.drain();
      this.#ready = false;
      await this.#source?.stop().catch(() => undefined);
      this.#caClient?.close();
      this.certs.close();
      await this.#admin.close();
      log.info('stopped');
    })();
    return this.#stopped;
  }

  configDump(): unknown {
    const cfg = this.store.toConfig();
    return {
      workloads: cfg.workloads,
      services: cfg.services,
      policies: cfg.policies,
      certificates: this.certs.dump(),
      workloadState: this.#workloadState(),
      pods: [...this.#proxies.values()].map((p) => ({ ...p.pod, identity: p.identity, openConnections: p.openConnections })),
      xds: { connected: this.#source?.connected, version: this.#source?.version },
      podSource: { zdsSocket: this.#config.zdsSocket, zdsConnected: this.#zds?.connected ?? false },
      config: this.#config,
    };
  }

  /**
   * ztunnel's `workloadState`, by pod UID: the pods this node proxies, as `istioctl ztunnel-config all` and
   * `connections` read it. Connections are not listed one by one (only counted, in `pods[].openConnections`).
   */
  #workloadState(): Record<string, WorkloadState> {
    const states: Record<string, WorkloadState> = {};
    for (const p of this.#proxies.values()) {
      const { uid, name, namespace, serviceAccount } = p.pod;
      states[uid] = { state: 'Up', connections: { inbound: [], outbound: [] }, info: { name, namespace, trustDomain: this.#config.trustDomain, serviceAccount } };
    }
    return states;
  }
}

/** One proxied pod in /config_dump, with ztunnel's field names. */
interface WorkloadState {
  state: string;
  connections: { inbound: never[]; outbound: never[] };
  info: { name: string; namespace: string; trustDomain: string; serviceAccount: string };
}
