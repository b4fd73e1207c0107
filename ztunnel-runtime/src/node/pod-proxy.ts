// The proxy of one enrolled pod (ztunnel's per-pod "inpod proxy"): listeners inside the pod's netns, an HBONE server
// with the pod's certificate, its own connection pool, and every upstream socket created inside the pod's netns with
// mark 1337 (so the pod's in-pod rules let it through and it leaves from the pod's own IP).
//   15001 -> handleOutbound (source = this pod, target = SO_ORIGINAL_DST)
//   15006 -> InboundProxy.handlePlaintext (no peer identity)
//   15008 -> HboneServer (pod certificate) -> InboundProxy.handleTunnel -> the pod's own IP from inside its netns
import type net from 'node:net';
import {
  HboneServer,
  identityOf,
  logger,
  type CertificateManager,
  type Workload,
  type WorkloadCertificate,
} from '@ambit/mesh-api';
import { PodProxyListeners, type PodProxyPorts } from '../inpod/listeners.js';
import { createPodSocketFactory, type Netns } from '../inpod/netns.js';
import type { EnrolledPod } from '../inpod/node-agent.js';
import { ProxyContext, type ProxySettings } from '../proxy/context.js';
import { InboundProxy } from '../proxy/inbound.js';
import { handleOutbound } from '../proxy/outbound.js';
import { holdUntilClose } from '../proxy/socket-set.js';
import type { MeshStore } from '@ambit/mesh-api';
import type { Metrics } from '../telemetry/metrics.js';

const log = logger('proxy');

export interface PodProxyOptions {
  store: MeshStore;
  certs: CertificateManager;
  metrics: Metrics;
  settings: ProxySettings;
  trustDomain: string;
  packetMark: number;
  poolMaxStreams?: number;
  poolIdleMs?: number;
  ports?: Partial<PodProxyPorts>;
}

/** The model's workload uid for a pod (the controller's `<cluster>//Pod/<ns>/<name>`). */
export function podWorkloadUid(clusterId: string, pod: { namespace: string; name: string }): string {
  return `${clusterId}//Pod/${pod.namespace}/${pod.name}`;
}

export class PodProxy {
  readonly identity: string;
  readonly ctx: ProxyContext;
  readonly inbound: InboundProxy;
  readonly hbone: HboneServer;
  readonly #outbound = new Set<net.Socket>();
  #listeners: PodProxyListeners | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    readonly pod: EnrolledPod,
    readonly netns: Netns,
    private readonly opts: PodProxyOptions,
    cert: WorkloadCertificate,
  ) {
    this.identity = cert.identity;
    const socketFactory = createPodSocketFactory(netns, { mark: opts.packetMark });
    // One context per pod: its own HBONE pool (Istio keys pools by source too) and socket factory; shared metrics.
    this.ctx = new ProxyContext(opts.store, opts.certs, {
      settings: opts.settings,
      metrics: opts.metrics,
      socketFactory,
      poolMaxStreams: opts.poolMaxStreams,
      poolIdleMs: opts.poolIdleMs,
    });
    // Inbound reaches the app from the client's own IP (IP_TRANSPARENT; the in-pod rules route the replies back to
    // ztunnel through mark 0x111), so the app sees who called, as with Istio's ztunnel.
    const spoofing = createPodSocketFactory(netns, { mark: opts.packetMark, bindSourceIp: true });
    this.inbound = new InboundProxy(this.ctx, { upstreamSocketFactory: (host, port, sourceIp) => spoofing(host, port, sourceIp) });
    this.hbone = new HboneServer({
      certificate: cert,
      trustDomain: opts.trustDomain,
      onTunnel: (t) => void this.inbound.handleTunnel(this.workload(), t),
    });
  }

  /** Fetches the pod's certificate, then opens 15001/15006/15008 in its netns. Throws (nothing left open) on failure. */
  static async start(pod: EnrolledPod, netns: Netns, opts: PodProxyOptions): Promise<PodProxy> {
    const identity = identityOf({ trustDomain: opts.trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccount });
    const cert = await opts.certs.get(identity);
    const p = new PodProxy(pod, netns, opts, cert);
    try {
      p.#listeners = await PodProxyListeners.start(
        netns,
        {
          onOutbound: ({ socket, originalDst }) => {
            holdUntilClose(p.#outbound, socket);
            void handleOutbound(p.ctx, socket, p.workload(), { ip: originalDst.address, port: originalDst.port });
          },
          onInbound: ({ socket, originalDst }) => void p.inbound.handlePlaintext(p.workload(), socket, { ip: originalDst.address, port: originalDst.port }),
          onHboneSocket: (socket) => p.hbone.server.emit('connection', socket),
        },
        { ports: opts.ports, logFields: `uid=${pod.uid} name=${pod.name} namespace=${pod.namespace}` },
      );
    } catch (e) {
      p.#dispose();
      throw e;
    }
    return p;
  }

  /**
   * The pod as the mesh model has it (labels, services, waypoint…), or a minimal workload from what the node agent
   * knows when the model has not caught up yet.
   */
  workload(): Workload {
    const store = this.opts.store;
    const byUid = store.workloads.get(podWorkloadUid(this.opts.settings.clusterId, this.pod));
    if (byUid) return byUid;
    const byIp = store.workloadByIp(this.pod.ip, this.opts.settings.network);
    if (byIp && byIp.namespace === this.pod.namespace && byIp.name === this.pod.name) return byIp;
    const fallback: Workload = {
      uid: podWorkloadUid(this.opts.settings.clusterId, this.pod),
      name: this.pod.name,
      namespace: this.pod.namespace,
      serviceAccount: this.pod.serviceAccount,
      trustDomain: this.opts.trustDomain,
      workloadIps: [this.pod.ip],
      protocol: 'HBONE',
      clusterId: this.opts.settings.clusterId,
      network: this.opts.settings.network,
    };
    return fallback;
  }

  /** Serves a renewed certificate to new HBONE connections. */
  setCertificate(cert: WorkloadCertificate): void {
    if (cert.identity === this.identity) this.hbone.setCertificate(cert);
  }

  get openConnections(): number {
    return this.inbound.openConnections + this.#outbound.size;
  }

  /** Stops accepting, lets open connections finish for up to `drainMs`, then closes what is left. */
  close(drainMs = 5000): Promise<void> {
    this.#closing ??= (async () => {
      log.debug('draining pod proxy', `uid=${this.pod.uid} open=${this.openConnections} deadline=${drainMs}ms`);
      const listenersClosed = this.#listeners?.close({ drainMs }) ?? Promise.resolve();
      const hboneClosed = this.hbone.close(); // GOAWAY: open tunnels finish, no new ones
      const until = Date.now() + drainMs;
      while (Date.now() < until && this.openConnections > 0) await new Promise((r) => setTimeout(r, 50));
      this.inbound.closeAll('connection drained');
      for (const s of this.#outbound) s.destroy();
      this.hbone.destroy();
      await Promise.race([Promise.all([listenersClosed, hboneClosed]), new Promise((r) => setTimeout(r, 200))]);
      this.#dispose();
    })();
    return this.#closing;
  }

  #dispose(): void {
    this.inbound.dispose();
    this.ctx.hbone.destroy();
    this.hbone.destroy();
  }
}
