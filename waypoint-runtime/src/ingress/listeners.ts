// Ingress role: the listener sockets kept in step with the config's listeners (their routes compiled before a
// request can use them), each accepted connection handed to HTTP (plain or TLS-terminated by SNI) or relayed as
// TLS passthrough, and, per request, the listener its port serves for its Host.

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IngressListener } from '@ambit/mesh-api';
import type { Logger, RequestContext } from '@ambit/plugin-sdk';
import type { RoutingPlugin } from '@ambit/plugins';
import type { PeerInfo } from '../peer.js';
import type { WireProtocol } from '../server/preface.js';
import type { UpstreamConnector } from '../upstream/connector.js';
import { relayPassthrough } from './passthrough.js';
import { hostOnly, pickRequestListener, type PortPlan } from './select.js';
import { IngressSockets } from './sockets.js';
import { tlsTerminator, type Terminator } from './tls.js';

export interface IngressListenersOptions {
  logger: Logger;
  connector: UpstreamConnector;
  /** The routing plugins whose tables hold the listeners' routes. */
  routers: readonly RoutingPlugin[];
  /** Serve HTTP on a connection (the waypoint's serve()). */
  serve(conn: Duplex, peer: PeerInfo, known?: WireProtocol): void;
  /** Address the sockets bind (default 0.0.0.0). */
  host?: string;
  /** How long a removed port's connections may finish (default 5 s). */
  drainMs?: number;
  /** TLS handshake / ClientHello deadline (default 10 s). */
  handshakeTimeoutMs?: number;
}

export class IngressListeners {
  readonly #opts: IngressListenersOptions;
  /** The listener sockets, created with the first snapshot that has listeners. */
  #sockets?: IngressSockets;
  #listeners: IngressListener[] = [];
  /** TLS termination per port plan (its certificates). */
  readonly #terminators = new WeakMap<PortPlan, Terminator>();

  constructor(opts: IngressListenersOptions) {
    this.#opts = opts;
  }

  /** The ingress sockets in step with `listeners`, each listener's routes compiled before it takes a request. */
  apply(listeners: IngressListener[]): Promise<void> {
    this.#listeners = listeners;
    for (const p of this.#opts.routers) {
      for (const l of listeners) {
        try {
          p.ingressRules({ listener: l.name, routes: l.routes });
        } catch {
          // compiled again (and failing the same way) on the first request
        }
      }
    }
    this.#sockets ??= new IngressSockets({
      logger: this.#opts.logger,
      host: this.#opts.host,
      drainMs: this.#opts.drainMs,
      onConnection: (socket, plan) => this.#onConnection(socket, plan),
    });
    return this.#sockets.reconcile(listeners);
  }

  /** Pod port -> the listeners it serves, for the ports open now. */
  get ports(): ReadonlyMap<number, PortPlan> {
    return this.#sockets?.listening ?? new Map();
  }

  /** True when the sockets of the last config are bound or given up on (and when there are none). */
  get settled(): boolean {
    return this.#sockets?.settled ?? true;
  }

  /** Resolves once the sockets of the last config are bound (or given up on). */
  async whenSettled(): Promise<void> {
    while (!this.settled) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Pick the listener of the request's port for its Host, and record it on the context: the client is the socket's
   * peer, appended to X-Forwarded-For (never trusted from it), the scheme is the listener's. Else the status to
   * answer: 404 (no listener serves the Host), 421 (the Host belongs to another listener than the SNI chose).
   */
  enter(ctx: RequestContext, conn: NonNullable<PeerInfo['ingress']>): true | 404 | 421 {
    const listeners = this.#sockets?.planOf(conn.targetPort)?.listeners ?? this.#listeners.filter((l) => l.targetPort === conn.targetPort);
    const picked = pickRequestListener(listeners, hostOnly(ctx.request.authority), conn.tls ? conn.sni : undefined);
    if (!picked) return 404;
    if ('misdirected' in picked) return 421;
    const l = picked.listener;
    ctx.ingress = { listener: l.name, port: l.port, hostnames: l.hostnames, routes: l.routes, sni: conn.sni };
    ctx.destination.port = l.port;
    const scheme = conn.tls ? 'https' : 'http';
    (ctx.request as { scheme: 'http' | 'https' }).scheme = scheme;
    ctx.setRequestHeader('x-forwarded-proto', scheme);
    const xff = ctx.header('x-forwarded-for');
    const client = ctx.source.address;
    ctx.setRequestHeader('x-forwarded-for', xff ? `${xff}, ${client}` : client);
    return true;
  }

  /** Stop accepting at once; open connections get `graceMs` to finish. */
  async close(graceMs: number): Promise<void> {
    await this.#sockets?.close(graceMs);
  }

  /** A connection on an ingress port: TLS terminated first when the port's listeners say so; passthrough is relayed. */
  #onConnection(socket: Socket, plan: PortPlan): void {
    const clientAddress = socket.remoteAddress;
    const clientPort = socket.remotePort;
    const handshakeMs = this.#opts.handshakeTimeoutMs ?? 10_000;
    if (plan.kind === 'http') {
      this.#opts.serve(socket, { clientAddress, clientPort, ingress: { targetPort: plan.targetPort, tls: false } });
      return;
    }
    if (plan.kind === 'terminate' && plan.sni) {
      let terminate = this.#terminators.get(plan);
      if (!terminate) {
        const targetPort = plan.targetPort;
        terminate = tlsTerminator(plan.sni, handshakeMs, (t) => {
          // ALPN decided the protocol: nothing is read before the HTTP server takes the socket.
          const peer = { clientAddress: t.socket.remoteAddress, clientPort: t.socket.remotePort, ingress: { targetPort, tls: true, sni: t.sni } };
          this.#opts.serve(t.socket, peer, t.socket.alpnProtocol === 'h2' ? 'h2' : 'http1');
        });
        this.#terminators.set(plan, terminate);
      }
      terminate(socket);
      return;
    }
    if (plan.kind === 'passthrough') {
      const routing = this.#opts.routers[0];
      void relayPassthrough(socket, plan, {
        connector: this.#opts.connector,
        logger: this.#opts.logger,
        helloTimeoutMs: handshakeMs,
        route: (l, sni) => routing?.passthroughBackend({ listener: l.name, routes: l.routes, port: l.port }, sni),
      });
      return;
    }
    socket.destroy();
  }
}
