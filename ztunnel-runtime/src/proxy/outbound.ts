// Outbound: from a local source workload to an original destination ip:port (ztunnel's build_request + proxy).
import * as crypto from 'node:crypto';
import type * as net from 'node:net';
import {
  formatAuthority,
  formatForwarded,
  HboneError,
  identityOf,
  loadBalanced,
  splitNetworkAddress,
  type GatewayAddress,
  type HboneClient,
  type MeshStore,
  type Service,
  type Workload,
} from '@ambit/mesh-api';
import { logConnectionComplete, logConnectionOpened, type AccessLogEntry } from '../telemetry/accesslog.js';
import { destinationLabels, sourceLabels, type ByteCounter, type TrackedConnection, type TrafficLabels } from '../telemetry/metrics.js';
import type { ProxyContext } from './context.js';
import { splice, type CopyOwner, type CopyResult } from './copy.js';
import { ignoreError } from './socket-set.js';

export interface OutboundRequest {
  protocol: 'HBONE' | 'TCP';
  /** Where the TCP connection goes. */
  nextHop: { ip: string; port: number };
  /** CONNECT authority (HBONE only). */
  hboneTarget?: { ip: string; port: number };
  /** Accepted peer identities (HBONE only). */
  expectedIdentities: string[];
  destWorkload?: Workload;
  destService?: Service;
  /** The waypoint the request goes through, if any. */
  viaWaypoint?: Workload;
}

export class OutboundError extends Error {}

function isSource(source: Workload, w: Workload): boolean {
  return source.uid === w.uid;
}

/** Resolves a GatewayAddress (`network/ip` or `ns/hostname`) to a waypoint workload. */
export function resolveGateway(store: MeshStore, gw: GatewayAddress, network: string): { workload: Workload; port: number } | undefined {
  const port = gw.hboneMtlsPort || 15008;
  const d = gw.destination;
  const { network: net_, ip } = splitNetworkAddress(d);
  const isIp = /^[0-9.]+$|:/.test(ip) && !d.includes('.svc') && /^[0-9a-fA-F:.]+$/.test(ip);
  if (isIp) {
    const w = store.workloadByIp(ip, net_ || network);
    if (w) return { workload: w, port };
    const svc = store.serviceByAddress(ip, net_ || network);
    if (svc) {
      const ep = pickEndpoint(store, svc, undefined);
      if (ep) return { workload: ep.workload, port };
    }
    return undefined;
  }
  const svc = store.service(d);
  if (!svc) return undefined;
  const ep = pickEndpoint(store, svc, undefined);
  return ep ? { workload: ep.workload, port } : undefined;
}

/** Picks a healthy endpoint, weighted by capacity. `svcPort` undefined: any endpoint. */
export function pickEndpoint(store: MeshStore, svc: Service, svcPort: number | undefined): { workload: Workload; targetPort: number } | undefined {
  const candidates: { workload: Workload; targetPort: number; weight: number }[] = [];
  for (const ep of store.endpoints(svc)) {
    if (!loadBalanced(svc, ep)) continue;
    let targetPort = 0;
    if (svcPort !== undefined) {
      targetPort = ep.ports[String(svcPort)] || svc.ports[String(svcPort)] || 0;
      if (!targetPort) continue;
    }
    candidates.push({ workload: ep.workload, targetPort, weight: Math.max(1, ep.workload.capacity ?? 1) });
  }
  if (candidates.length === 0) return undefined;
  let r = Math.random() * candidates.reduce((s, c) => s + c.weight, 0);
  for (const c of candidates) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return candidates[candidates.length - 1];
}

/** ztunnel's outbound decision. Throws OutboundError (`no healthy upstream: …`). */
export function buildOutboundRequest(store: MeshStore, source: Workload, target: { ip: string; port: number }, settings: { network: string; hbonePort: number }): OutboundRequest {
  const network = source.network ?? settings.network;
  const svc = store.serviceByAddress(target.ip, network);
  // 1. Service with a waypoint (unless we are that waypoint).
  if (svc?.waypoint) {
    const wp = resolveGateway(store, svc.waypoint, network);
    if (wp && !isSource(source, wp.workload)) {
      return {
        protocol: 'HBONE',
        nextHop: { ip: wp.workload.workloadIps[0]!, port: wp.port === 15008 ? settings.hbonePort : wp.port },
        hboneTarget: target,
        expectedIdentities: [identityOf(wp.workload)],
        destService: svc,
        viaWaypoint: wp.workload,
      };
    }
  }
  // 2. Upstream.
  let dest: Workload | undefined;
  let port = target.port;
  if (svc) {
    const ep = pickEndpoint(store, svc, target.port);
    if (!ep) throw new OutboundError(`no healthy upstream: ${formatAuthority(target.ip, target.port)}`);
    dest = ep.workload;
    port = ep.targetPort;
  } else {
    dest = store.workloadByIp(target.ip, network);
  }
  if (!dest) {
    return { protocol: 'TCP', nextHop: target, expectedIdentities: [] };
  }
  const destIp = svc ? dest.workloadIps[0]! : target.ip;
  // 4. Workload waypoint, for workload-addressed traffic.
  if (!svc && dest.waypoint) {
    const wp = resolveGateway(store, dest.waypoint, network);
    if (wp && !isSource(source, wp.workload)) {
      return {
        protocol: 'HBONE',
        nextHop: { ip: wp.workload.workloadIps[0]!, port: wp.port === 15008 ? settings.hbonePort : wp.port },
        hboneTarget: target,
        expectedIdentities: [identityOf(wp.workload)],
        destWorkload: dest,
        viaWaypoint: wp.workload,
      };
    }
  }
  // 5. Direct.
  if (dest.protocol === 'HBONE') {
    return {
      protocol: 'HBONE',
      nextHop: { ip: destIp, port: settings.hbonePort },
      hboneTarget: { ip: destIp, port },
      expectedIdentities: [...new Set([identityOf(dest), ...(svc?.subjectAltNames ?? [])])],
      destWorkload: dest,
      destService: svc,
    };
  }
  return { protocol: 'TCP', nextHop: { ip: destIp, port }, expectedIdentities: [], destWorkload: dest, destService: svc };
}

/** `baggage` as ztunnel sends it (empty parts omitted). */
export function baggageOf(w: Workload, clusterId: string): string {
  const parts = [`k8s.cluster.name=${w.clusterId || clusterId}`, `k8s.namespace.name=${w.namespace}`];
  if (w.workloadName) parts.push(`k8s.${w.workloadType ?? 'deployment'}.name=${w.workloadName}`);
  if (w.canonicalName) parts.push(`service.name=${w.canonicalName}`);
  if (w.canonicalRevision) parts.push(`service.version=${w.canonicalRevision}`);
  if (w.locality?.region) parts.push(`cloud.region=${w.locality.region}`);
  if (w.locality?.zone) parts.push(`cloud.availability_zone=${w.locality.zone}`);
  return parts.join(',');
}

export function traceparent(): string {
  return `00-${crypto.randomBytes(16).toString('hex')}-${crypto.randomBytes(8).toString('hex')}-01`;
}

export interface OutboundOptions {
  /** HBONE client to use (in-pod: one per pod). Default: the context's. */
  hbone?: HboneClient;
}

/** How long a denied client may take to send its first bytes before the reset goes out anyway. */
export const RESET_GRACE_MS = 250;

/**
 * A denied outbound connection (the peer answered the CONNECT with 401) is reset, so the client sees "connection
 * reset by peer" (curl exit 56), as with Istio's ztunnel, where the HBONE round trip always outlasts the client's
 * first write and closing a socket with unread data sends RST. Here the 401 can come back (same node, pooled
 * connection) before the app has even noticed its connect() completed; an RST then looks like a failed connect
 * (curl exit 7). So the reset waits until the client has sent something (or RESET_GRACE_MS for server-first
 * protocols). Nothing is forwarded meanwhile.
 */
export function resetOnlyAfterClientSpoke(socket: net.Socket, graceMs = RESET_GRACE_MS): void {
  // One shared function, not a closure per socket: a held connection pays for a property, nothing more.
  socket.resetAndDestroy = graceMs === RESET_GRACE_MS ? resetWhenSpoken : function (this: net.Socket) {
    return resetAfter(this, graceMs);
  };
}

function resetWhenSpoken(this: net.Socket): net.Socket {
  return resetAfter(this, RESET_GRACE_MS);
}

function resetAfter(socket: net.Socket, graceMs: number): net.Socket {
  const reset = () => Object.getPrototypeOf(socket).resetAndDestroy.call(socket) as net.Socket;
  if (socket.destroyed || socket.bytesRead > 0 || socket.readableLength > 0) return reset();
  const fire = () => {
    clearTimeout(timer);
    socket.off('readable', fire);
    if (!socket.destroyed) reset();
  };
  const timer = setTimeout(fire, graceMs);
  socket.once('readable', fire);
  socket.once('close', () => clearTimeout(timer));
  return socket;
}

/**
 * What an established outbound connection keeps while it is held: the client socket (its byte counts are the
 * metrics' bytes), the access log entry, the metrics handle. Everything else from the set-up is dropped.
 */
class OutboundConnection implements ByteCounter, CopyOwner {
  tracked!: TrackedConnection;

  constructor(
    private readonly downstream: net.Socket,
    private readonly baseRead: number,
    private readonly baseWritten: number,
    private readonly entry: AccessLogEntry,
    private readonly start: number,
  ) {}

  bytes(): readonly [number, number] {
    return [this.downstream.bytesRead - this.baseRead, this.downstream.bytesWritten - this.baseWritten];
  }

  copyDone(res: CopyResult): void {
    const [sent, recv] = this.tracked.end();
    const benign = !res.error || ['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes((res.error as NodeJS.ErrnoException).code ?? '');
    logConnectionComplete({ ...this.entry, bytesSent: sent, bytesRecv: recv, durationMs: performance.now() - this.start, error: benign ? undefined : res.error!.message });
  }
}

/**
 * Proxies `downstream` (an accepted client socket of `source`) to `target`. Resolves once the connection is
 * established (or has failed); the bytes are then copied until both sides close, and the access log line follows.
 */
export async function handleOutbound(ctx: ProxyContext, downstream: net.Socket, source: Workload, target: { ip: string; port: number }, opts: OutboundOptions = {}): Promise<void> {
  const start = performance.now();
  // Bytes already exchanged (e.g. a SOCKS5 handshake) are not payload.
  const baseRead = downstream.bytesRead;
  const baseWritten = downstream.bytesWritten;
  const srcIdentity = identityOf(source);
  const client = { ip: downstream.remoteAddress ?? source.workloadIps[0] ?? '', port: downstream.remotePort ?? 0 };
  const srcAddr = formatAuthority(client.ip, client.port);
  downstream.on('error', ignoreError);
  resetOnlyAfterClientSpoke(downstream);
  let req: OutboundRequest;
  const entry: AccessLogEntry = {
    srcAddr,
    srcWorkload: source.name,
    srcNamespace: source.namespace,
    dstAddr: formatAuthority(target.ip, target.port),
    direction: 'outbound',
  };
  let labels: TrafficLabels = { reporter: 'source', ...sourceLabels(source, srcIdentity, ctx.settings.clusterId), request_protocol: 'tcp', response_flags: '-', connection_security_policy: 'unknown' };
  try {
    req = buildOutboundRequest(ctx.store, source, target, ctx.settings);
  } catch (e) {
    entry.error = (e as Error).message;
    ctx.metrics.failed(labels);
    logConnectionComplete({ ...entry, durationMs: performance.now() - start });
    downstream.destroy();
    return;
  }
  const mtls = req.protocol === 'HBONE';
  const destId = mtls ? req.expectedIdentities[0] : undefined;
  labels = {
    ...labels,
    ...destinationLabels(req.destWorkload ?? req.viaWaypoint, req.destService, destId, ctx.settings.clusterId),
    connection_security_policy: mtls ? 'mutual_tls' : 'unknown',
  };
  if (mtls) entry.srcIdentity = srcIdentity;
  entry.dstAddr = formatAuthority(req.nextHop.ip, req.nextHop.port);
  if (req.hboneTarget) entry.dstHboneAddr = formatAuthority(req.hboneTarget.ip, req.hboneTarget.port);
  const dw = req.destWorkload ?? req.viaWaypoint;
  entry.dstService = req.destService?.hostname;
  entry.dstWorkload = dw?.name;
  entry.dstNamespace = dw?.namespace;
  entry.dstIdentity = destId;
  const conn = new OutboundConnection(downstream, baseRead, baseWritten, entry, start);
  const tracked = (conn.tracked = ctx.metrics.track(labels, conn));
  logConnectionOpened(entry);

  let upstream: import('node:stream').Duplex;
  let upstreamSocket: net.Socket | undefined;
  try {
    if (req.protocol === 'HBONE') {
      const cert = await ctx.certs.get(srcIdentity);
      const authority = formatAuthority(req.hboneTarget!.ip, req.hboneTarget!.port);
      upstream = await (opts.hbone ?? ctx.hbone).connect({
        nextHop: { host: req.nextHop.ip, port: req.nextHop.port },
        authority,
        expectedIdentities: req.expectedIdentities,
        certificate: cert,
        sourceIp: source.workloadIps[0],
        headers: {
          baggage: baggageOf(source, ctx.settings.clusterId),
          forwarded: formatForwarded(client, req.destService?.hostname),
          traceparent: traceparent(),
        },
      });
    } else {
      upstreamSocket = ctx.socketFactory(req.nextHop.ip, req.nextHop.port, source.workloadIps[0]);
      upstream = upstreamSocket;
      await new Promise<void>((resolve, reject) => {
        upstreamSocket!.once('connect', resolve);
        upstreamSocket!.once('error', reject);
      });
    }
  } catch (e) {
    const flags = e instanceof HboneError ? e.responseFlags : 'CONNECT';
    tracked.end(true, { ...labels, response_flags: flags }, [0, 0]);
    // A 401 from the peer (policy) resets the client socket, so the client sees a connection reset.
    if (e instanceof HboneError && e.status === 401) downstream.resetAndDestroy();
    else downstream.destroy();
    logConnectionComplete({ ...entry, durationMs: performance.now() - start, error: e instanceof HboneError ? e.message : `connect: ${(e as Error).message}` });
    return;
  }
  // The copy runs on its own from here; this function's frame (labels, request, set-up state) is released.
  splice(downstream, upstream, conn, { resetA: true });
}
