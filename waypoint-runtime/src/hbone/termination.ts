// HBONE termination on :15008: mTLS HTTP/2 CONNECT with the waypoint's own SPIFFE certificate. Each accepted
// tunnel is served as an HTTP/1.1 connection by the waypoint's Fastify server, attributed to the peer identity
// (the source workload, as its ztunnel presents it) and the CONNECT authority (the original destination).

import { HboneServer, type HboneTunnel, type WorkloadCertificate } from '@ambit/ztunnel-runtime';
import { parseForwardedFor } from '../peer.js';
import type { Waypoint } from '../waypoint.js';
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
    if (!this.waypoint.ready) {
      t.reject(503);
      return;
    }
    const fwd = parseForwardedFor(t.headers.forwarded as string | undefined);
    const clientAddress = fwd?.address ?? t.remoteAddress;
    const clientPort = fwd?.port ?? t.remotePort;
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

  close(): Promise<void> {
    return this.server.close();
  }
}
