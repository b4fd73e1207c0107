// What the waypoint knows about the connection a request arrived on. HBONE-terminated streams are served as
// plain Duplexes; the HBONE server records the peer's SPIFFE identity and the CONNECT authority here (on the
// connection, and on the HTTP/2 session when the tunnel speaks h2c).

import { randomUUID } from 'node:crypto';

export interface PeerInfo {
  /** SPIFFE ID from the peer certificate (the source workload's, carried by its ztunnel). */
  principal?: string;
  /** The CONNECT `:authority` (`ip:port`): the original destination. */
  authority?: string;
  /**
   * The client workload's address: the CONNECT's `forwarded: for=` when the peer identity vouches for it (see
   * hbone/client-address), else the TCP peer.
   */
  clientAddress?: string;
  clientPort?: number;
  /**
   * Set on connections an ingress listener accepted (no HBONE peer: the client is the socket's peer): the port it
   * arrived on, whether TLS was terminated, and the SNI. The listener itself is picked per request (Host).
   */
  ingress?: { targetPort: number; tls: boolean; sni?: string };
}

const peers = new WeakMap<object, PeerInfo>();

export function setPeer(conn: object, info: PeerInfo): void {
  peers.set(conn, info);
}

export function getPeer(conn: object | null | undefined): PeerInfo | undefined {
  return conn ? peers.get(conn) : undefined;
}

/** The peer of a request: by its connection (HTTP/1.x) or its HTTP/2 session (set on the session by serve()). */
export function peerOf(raw: { httpVersionMajor: number; socket: object | null; stream?: { session?: object } }): PeerInfo | undefined {
  return raw.httpVersionMajor === 2 ? getPeer(raw.stream?.session) : getPeer(raw.socket);
}

export function newRequestId(): string {
  return randomUUID();
}
