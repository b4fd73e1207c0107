// Inbound: HBONE tunnels (15008) and plaintext (15006) to a local workload, with RBAC, telemetry and
// re-evaluation of live connections on policy change.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  formatAuthority,
  forwardedParam,
  identityOf,
  logger,
  parseAuthority,
  parseSpiffeId,
  type HboneTunnel,
  type Service,
  type Workload,
} from '@ambit/mesh-api';
import { evaluateRbac, type RbacConnection } from '../rbac/evaluate.js';
import type { MeshChange } from '@ambit/mesh-api';
import { logConnectionComplete, logConnectionOpened, type AccessLogEntry } from '../telemetry/accesslog.js';
import { guessInboundService } from '../telemetry/inbound-service.js';
import { destinationLabels, sourceLabels, type ByteCounter, type TrackedConnection, type TrafficLabels } from '../telemetry/metrics.js';
import type { ProxyContext } from './context.js';
import { splice, type CopyOwner } from './copy.js';
import { ignoreError } from './socket-set.js';
import { resolveGateway } from './outbound.js';

const log = logger('inbound');

/**
 * What an established inbound connection keeps while it is held: its two sides, what policy re-evaluation needs,
 * the access log entry and the metrics handle (no closures per connection; the set-up's state is dropped).
 */
class LiveConnection implements ByteCounter, CopyOwner {
  tracked!: TrackedConnection;
  private closeReason: string | undefined = undefined;

  constructor(
    private readonly live: Set<LiveConnection>,
    readonly workloadUid: string,
    readonly rbac: RbacConnection,
    private readonly down: Duplex,
    private readonly upstream: net.Socket,
    /** Plaintext inbound: a policy close resets the client socket. */
    private readonly resetDown: boolean,
    private readonly entry: AccessLogEntry,
    private readonly start: number,
  ) {}

  bytes(): readonly [number, number] {
    return [this.upstream.bytesWritten, this.upstream.bytesRead];
  }

  close(reason: string): void {
    this.closeReason = reason;
    if (this.resetDown) (this.down as net.Socket).resetAndDestroy();
    else this.down.destroy();
    this.upstream.destroy();
  }

  copyDone(): void {
    this.live.delete(this);
    const [sent, recv] = this.tracked.end();
    logConnectionComplete({ ...this.entry, bytesSent: sent, bytesRecv: recv, durationMs: performance.now() - this.start, error: this.closeReason });
    if (this.resetDown) log.debug('plaintext inbound done');
  }
}

export interface InboundOptions {
  /**
   * Opens the upstream socket to the local app (in-pod: inside the pod netns, from the client's IP as Istio's
   * ztunnel does, so the app sees who called). Default: plain net.connect (`sourceIp` ignored).
   */
  upstreamSocketFactory?: (host: string, port: number, sourceIp: string) => net.Socket;
}

export class InboundProxy {
  private readonly live = new Set<LiveConnection>();
  private readonly onChange = (ev: MeshChange) => {
    if (ev.policies.length > 0 || ev.full || ev.workloads.length > 0) this.reevaluate();
  };

  constructor(
    private readonly ctx: ProxyContext,
    private readonly opts: InboundOptions = {},
  ) {
    ctx.store.on('change', this.onChange);
  }

  get openConnections(): number {
    return this.live.size;
  }

  /** Closes live connections that policies no longer allow. */
  reevaluate(): void {
    for (const c of [...this.live]) {
      const w = this.ctx.store.workloads.get(c.workloadUid);
      if (!w) continue;
      const r = evaluateRbac(this.ctx.store.policiesFor(w), c.rbac);
      if (!r.allowed) c.close('connection closed due to policy change');
    }
  }

  /** Destroys every live connection (end of drain). */
  closeAll(reason = 'drain'): void {
    for (const c of [...this.live]) c.close(reason);
  }

  dispose(): void {
    this.ctx.store.off('change', this.onChange);
  }

  private connectUpstream(ip: string, port: number, sourceIp: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = this.opts.upstreamSocketFactory ? this.opts.upstreamSocketFactory(ip, port, sourceIp) : net.connect({ host: ip, port, noDelay: true });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  /** Where an HBONE authority goes for `local`: its own IP, or a service/workload whose waypoint is `local`. */
  private resolveTarget(local: Workload, ip: string, port: number): { ip: string; port: number; service?: Service } | string {
    if (local.workloadIps.includes(ip)) return { ip, port };
    const network = local.network ?? this.ctx.settings.network;
    const svc = this.ctx.store.serviceByAddress(ip, network);
    if (svc?.waypoint && resolveGateway(this.ctx.store, svc.waypoint, network)?.workload.uid === local.uid) {
      return { ip: local.workloadIps[0]!, port, service: svc };
    }
    const w = this.ctx.store.workloadByIp(ip, network);
    if (w?.waypoint && resolveGateway(this.ctx.store, w.waypoint, network)?.workload.uid === local.uid) return { ip: local.workloadIps[0]!, port };
    return `ip mismatch: ${ip} != ${local.workloadIps[0] ?? ''}`;
  }

  /** Handles one CONNECT tunnel that arrived on `local`'s HBONE listener. */
  async handleTunnel(local: Workload, t: HboneTunnel): Promise<void> {
    const start = performance.now();
    const a = parseAuthority(t.authority);
    const srcIp = t.remoteAddress.replace(/^::ffff:/, '');
    const srcAddr = formatAuthority(srcIp, t.remotePort);
    const srcW = this.ctx.store.workloadByIp(srcIp, local.network ?? this.ctx.settings.network);
    const peer = parseSpiffeId(t.peerIdentity);
    const entry: AccessLogEntry = {
      srcAddr,
      srcWorkload: srcW?.name,
      srcNamespace: srcW?.namespace ?? peer?.namespace,
      srcIdentity: t.peerIdentity,
      dstAddr: formatAuthority(t.localAddress.replace(/^::ffff:/, ''), t.localPort),
      dstHboneAddr: t.authority,
      dstWorkload: local.name,
      dstNamespace: local.namespace,
      dstIdentity: identityOf(local),
      direction: 'inbound',
    };
    const labels: TrafficLabels = {
      reporter: 'destination',
      ...sourceLabels(srcW, t.peerIdentity, this.ctx.settings.clusterId),
      source_workload_namespace: srcW?.namespace ?? peer?.namespace,
      ...destinationLabels(local, undefined, identityOf(local), this.ctx.settings.clusterId),
      request_protocol: 'tcp',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    };
    const fail = (status: number, error: string, flags = '-') => {
      t.reject(status);
      this.ctx.metrics.failed({ ...labels, response_flags: flags });
      logConnectionComplete({ ...entry, durationMs: performance.now() - start, error });
    };
    if (!a) return fail(400, `invalid authority: ${t.authority}`);
    const target = this.resolveTarget(local, a.ip, a.port);
    if (typeof target === 'string') return fail(400, target);
    const service = target.service ?? guessInboundService(this.ctx.store, local, target.port, forwardedParam(t.headers.forwarded, 'host'));
    if (service) {
      entry.dstService = service.hostname;
      Object.assign(labels, destinationLabels(local, service, identityOf(local), this.ctx.settings.clusterId));
    }
    if (this.ctx.settings.illegalPorts.includes(target.port)) return fail(400, 'attempted recursive call to ourselves');
    const rbac: RbacConnection = { srcIp, srcIdentity: t.peerIdentity || undefined, dstIp: target.ip, dstPort: target.port };
    const decision = evaluateRbac(this.ctx.store.policiesFor(local), rbac);
    if (!decision.allowed) return fail(401, `connection closed due to policy rejection: ${decision.reason}`, 'DENY');
    let upstream: net.Socket;
    try {
      upstream = await this.connectUpstream(target.ip, target.port, srcIp);
    } catch (e) {
      return fail(503, `connection failed: ${(e as Error).message}`, 'CONNECT');
    }
    if (t.stream.destroyed || t.stream.closed) {
      upstream.destroy();
      return fail(503, 'tunnel closed before upstream was ready');
    }
    const stream = t.accept();
    const live = new LiveConnection(this.live, local.uid, rbac, stream, upstream, false, entry, start);
    live.tracked = this.ctx.metrics.track(labels, live);
    logConnectionOpened(entry);
    this.live.add(live);
    // The copy runs on its own from here; this function's frame (the tunnel, its headers, labels) is released.
    splice(stream, upstream, live);
  }

  /**
   * Handles a plaintext connection captured for `local` (15006): RBAC without identity, then straight to the app.
   * `originalDst` is where the client meant to go (SO_ORIGINAL_DST).
   */
  async handlePlaintext(local: Workload, downstream: net.Socket, originalDst: { ip: string; port: number }): Promise<void> {
    const start = performance.now();
    downstream.on('error', ignoreError);
    const srcIp = (downstream.remoteAddress ?? '').replace(/^::ffff:/, '');
    const srcAddr = formatAuthority(srcIp, downstream.remotePort ?? 0);
    const srcW = this.ctx.store.workloadByIp(srcIp, local.network ?? this.ctx.settings.network);
    const entry: AccessLogEntry = {
      srcAddr,
      srcWorkload: srcW?.name,
      srcNamespace: srcW?.namespace,
      dstAddr: formatAuthority(originalDst.ip, originalDst.port),
      dstWorkload: local.name,
      dstNamespace: local.namespace,
      direction: 'inbound',
    };
    const service = guessInboundService(this.ctx.store, local, originalDst.port);
    if (service) entry.dstService = service.hostname;
    const labels: TrafficLabels = {
      reporter: 'destination',
      ...sourceLabels(srcW, undefined, this.ctx.settings.clusterId),
      ...destinationLabels(local, service, identityOf(local), this.ctx.settings.clusterId),
      request_protocol: 'tcp',
      response_flags: '-',
      connection_security_policy: 'unknown',
    };
    const fail = (error: string, flags: string) => {
      this.ctx.metrics.failed(labels);
      void flags;
      downstream.destroy();
      logConnectionComplete({ ...entry, durationMs: performance.now() - start, error });
    };
    if (this.ctx.settings.illegalPorts.includes(originalDst.port)) return fail('attempted recursive call to ourselves', '-');
    const rbac: RbacConnection = { srcIp, dstIp: originalDst.ip, dstPort: originalDst.port };
    const decision = evaluateRbac(this.ctx.store.policiesFor(local), rbac);
    if (!decision.allowed) return fail(`connection closed due to policy rejection: ${decision.reason}`, 'DENY');
    let upstream: net.Socket;
    try {
      upstream = await this.connectUpstream(local.workloadIps.includes(originalDst.ip) ? originalDst.ip : local.workloadIps[0]!, originalDst.port, srcIp);
    } catch (e) {
      return fail(`connection failed: ${(e as Error).message}`, 'CONNECT');
    }
    const live = new LiveConnection(this.live, local.uid, rbac, downstream, upstream, true, entry, start);
    live.tracked = this.ctx.metrics.track(labels, live);
    this.live.add(live);
    splice(downstream, upstream, live);
  }
}
