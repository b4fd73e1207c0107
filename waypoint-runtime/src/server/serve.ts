// HTTP over any Duplex handed to the waypoint (an HBONE CONNECT stream, an ingress socket): the peer recorded on
// it, HTTP/2 or HTTP/1.x picked from its first bytes (or known from ALPN), and the connection tracked for drain.

import type { Http2Server } from 'node:http2';
import type { Server } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ServedConnections } from '../connections.js';
import { setPeer, type PeerInfo } from '../peer.js';
import { acceptH2 } from './h2.js';
import { jsDuplex } from './js-duplex.js';
import { detectProtocol, type WireProtocol } from './preface.js';

export interface ConnectionServerParts {
  /** Reads HTTP/1.x connections (Fastify's server). */
  http1: Server;
  /** Reads h2c sessions. */
  h2: Http2Server;
  connections: ServedConnections;
  /** A connection that sends nothing for this long is closed. */
  keepAliveTimeoutMs: number;
}

export class ConnectionServer {
  readonly #p: ConnectionServerParts;

  constructor(parts: ConnectionServerParts) {
    this.#p = parts;
  }

  /**
   * Serve HTTP over `conn`, attributing it to `peer`: HTTP/2 when its first bytes are the HTTP/2 preface (h2c with
   * prior knowledge), else HTTP/1.x; `known` skips the detection.
   */
  serve(conn: Duplex, peer: PeerInfo, known?: WireProtocol): void {
    const s = conn as Duplex & { remoteAddress?: string; remotePort?: number };
    s.remoteAddress ??= peer.clientAddress;
    s.remotePort ??= peer.clientPort;
    setPeer(conn, peer);
    // A reset tunnel must never surface as an uncaught error, whichever server reads it at that moment.
    conn.on('error', () => undefined);
    this.#p.connections.add(conn);
    const start = (kind: WireProtocol | null) => {
      if (kind === 'http1') {
        this.#p.http1.emit('connection', conn);
        conn.resume();
      } else if (kind === 'h2') {
        // A native socket whose first bytes were read for detection goes through a JS stream (see jsDuplex).
        const h2conn = !known && conn instanceof Socket ? jsDuplex(conn) : conn;
        const session = acceptH2(this.#p.h2, h2conn);
        setPeer(session, peer);
        this.#p.connections.addSession(conn, session);
      }
    };
    if (known) start(known);
    else void detectProtocol(conn, this.#p.keepAliveTimeoutMs).then(start);
  }
}
