// HBONE termination on :15008: mTLS HTTP/2 CONNECT with the waypoint's own SPIFFE certificate. Each accepted
// tunnel is served as an HTTP/1.1 connection by the waypoint's Fastify server, attributed to the peer identity
// (the source workload, as its ztunnel presents it) and the CONNECT authority (the original destination).
// A CONNECT to an authority that is not a Service or workload bound to this waypoint is answered 400 before
// any byte flows, as ztunnel answers a CONNECT for an address it does not serve (`ip mismatch`); Envoy's
// waypoint has no filter chain for it and closes the connection. Either way the client sees a reset.
// The client address is the `forwarded: for=` one only when the peer's identity vouches for it.

import { HboneServer, type HboneTunnel, type WorkloadCertificate } from '@ambit/mesh-api';
import type { Waypoint } from '../waypoint.js';
import { clientAddressOf } from './client-address.js';
import { StreamDuplex } from './duplex.js';

export interface HboneTerminationOptions {
  certificate: WorkloadCertificate;
  trustDomain?: string;
}

export class HboneTermination {
  readonly server: HboneServer;
  constructor(private readonly waypoint: Waypoint, opts: HboneTerminationOptions) {
    this.server = new HboneServer({ certificate: opts.certificate, trustDomain: opts.trustDomain, onTunnel: (t) => this.#onTunnel(t) });
  }

  #onTunnel(t: HboneTunnel): void {
    if (!t.authority || !t.peerIdentity) {
      t.reject(400);
      return;
    }
    if (!this.waypoint.serving) {
      t.reject(503);
      return;
    }
    const admission = this.waypoint.admit(t.authority);
    if (!admission.ok) {
      this.waypoint.logger.debug('CONNECT refused', { authority: t.authority, peer: t.peerIdentity, reason: admission.reason });
      t.reject(400);
      return;
    }
    // The client address comes from the identity (see ./client-address), never from a header alone.
    const client = clientAddressOf(t, this.waypoint.mesh, this.waypoint.trustedNodeAccounts);
    if (client.ignored) this.waypoint.logger.debug('forwarded header ignored', { peer: t.peerIdentity, reason: client.ignored });
    const clientAddress = client.address;
    const clientPort = client.port;
    const stream = t.accept();
    const conn = new StreamDuplex(stream, { remoteAddress: clientAddress, remotePort: clientPort, localAddress: t.localAddress, localPort: t.localPort });
    this.waypoint.serve(conn, { principal: t.peerIdentity, authority: t.authority, clientAddress, clientPort });
  }

  listen(port: number, host = '0.0.0.0'): Promise<{ port: number }> {
    return this.server.listen(port, host);
  }

  setCertificate(cert: WorkloadCertificate): void {
    this.server.setCertificate(cert);
  }

  /**
   * GOAWAY to every session; tunnels still open after `graceMs` (e.g. a client's idle keep-alive connection,
   * which a ztunnel's pooled session carries indefinitely) are destroyed. Without a grace, waits for them.
   */
  async close(graceMs?: number): Promise<void> {
    const closed = this.server.close();
    if (graceMs === undefined) return closed;
    const timer = setTimeout(() => this.server.destroy(), graceMs);
    try {
      await closed;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The waypoint's SIGTERM drain, in two steps within `graceMs`:
 * 1. for the first half (at most 1 s) everything keeps being served, new tunnels included, while readiness says 503
 *    and HTTP/1.1 responses carry `connection: close`: the ztunnels still send new connections here until the
 *    controller's push tells them the pod is terminating (refusing them then would lose requests in a rollout);
 * 2. then HBONE sessions get GOAWAY and the listener closes, while the waypoint drains its HTTP connections (the
 *    tunnels' keep-alive connections end when idle or at the deadline).
 * Both finish within `graceMs` (plus the closes), so the process exits before the pod's grace period runs out.
 */
export async function drainWaypoint(waypoint: Waypoint, term: HboneTermination | undefined, graceMs: number): Promise<void> {
  waypoint.startDrain();
  const settle = Math.min(1000, graceMs / 2);
  await new Promise((r) => setTimeout(r, settle));
  const rest = graceMs - settle;
  await Promise.all([term?.close(rest), waypoint.close(rest)]);
}
