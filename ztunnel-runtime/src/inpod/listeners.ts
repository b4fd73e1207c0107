// The three in-pod listeners ztunnel opens inside an enrolled pod's netns (reference 3.1): 15001 outbound capture,
// 15006 inbound plaintext, 15008 inbound HBONE. Accepted sockets go to callbacks; the proxies do the rest.
import type net from 'node:net';
import { logger } from '@ambit/mesh-api';
import { type Netns, type SocketAddress, getOriginalDst, listenInNetns, unmapV4 } from './netns.js';

const log = logger('inpod');

export interface CapturedConnection {
  socket: net.Socket;
  /** SO_ORIGINAL_DST: where the app was connecting (outbound) / which local ip:port the peer dialled (inbound). */
  originalDst: SocketAddress;
  /** Peer address (IPv4, no `::ffff:`). */
  source: SocketAddress;
}

export interface PodProxyHandlers {
  /** 15001: the pod's app opened a connection to `originalDst`. */
  onOutbound(conn: CapturedConnection): void;
  /** 15006: plaintext connection to the pod (`originalDst` = podIP:port the client dialled). */
  onInbound(conn: CapturedConnection): void;
  /** 15008: raw TCP for the HBONE server (e.g. `tlsServer.emit('connection', socket)`). */
  onHboneSocket(socket: net.Socket): void;
}

export interface PodProxyPorts {
  outbound: number;
  inboundPlaintext: number;
  hbone: number;
}

export const DEFAULT_PORTS: Readonly<PodProxyPorts> = Object.freeze({ outbound: 15001, inboundPlaintext: 15006, hbone: 15008 });

export interface PodProxyListenersOptions {
  ports?: Partial<PodProxyPorts>;
  /** Label for log lines (e.g. `uid=… name=… namespace=…`). */
  logFields?: string;
}

/** Listeners for one enrolled pod. `start()` opens all three inside the pod's netns (all or nothing). */
export class PodProxyListeners {
  readonly ports: PodProxyPorts;
  readonly #servers: net.Server[] = [];
  readonly #sockets = new Set<net.Socket>();
  #closing: Promise<void> | undefined;

  private constructor(
    readonly netns: Netns,
    private readonly opts: PodProxyListenersOptions,
  ) {
    this.ports = { ...DEFAULT_PORTS, ...opts.ports };
  }

  static async start(netns: Netns, handlers: PodProxyHandlers, opts: PodProxyListenersOptions = {}): Promise<PodProxyListeners> {
    const l = new PodProxyListeners(netns, opts);
    try {
      await l.#listen(l.ports.outbound, (s) => l.#captured(s, handlers.onOutbound));
      await l.#listen(l.ports.inboundPlaintext, (s) => l.#captured(s, handlers.onInbound));
      await l.#listen(l.ports.hbone, (s) => handlers.onHboneSocket(s));
    } catch (e) {
      await l.close({ drainMs: 0 });
      throw e;
    }
    return l;
  }

  /** Connections accepted and not yet closed. */
  get activeConnections(): number {
    return this.#sockets.size;
  }

  async #listen(port: number, onSocket: (s: net.Socket) => void): Promise<void> {
    // SO_REUSEPORT (Istio's inpod port reuse): a new ztunnel binds next to the one it replaces and takes new
    // connections as soon as the old one closes its listeners, so a rollout refuses no connection.
    const server = await listenInNetns(this.netns, port, { reusePort: true });
    this.#servers.push(server);
    server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      try {
        onSocket(socket);
      } catch (e) {
        log.warn(`in-pod listener :${port} handler failed: ${(e as Error).message}`, this.opts.logFields);
        socket.destroy();
      }
    });
    server.on('error', (e) => log.warn(`in-pod listener :${port}: ${e.message}`, this.opts.logFields));
  }

  #captured(socket: net.Socket, cb: (c: CapturedConnection) => void): void {
    let originalDst: SocketAddress;
    try {
      originalDst = getOriginalDst(socket);
    } catch (e) {
      log.warn(`cannot read original destination: ${(e as Error).message}`, this.opts.logFields);
      socket.destroy();
      return;
    }
    cb({ socket, originalDst, source: { address: unmapV4(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 } });
  }

  /**
   * Stops accepting at once, waits up to `drainMs` (default 5 s, ztunnel's drain deadline) for open connections to
   * finish, then destroys what is left.
   */
  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.#closing ??= (async () => {
      // server.close() stops accepting now; its callback would wait for every connection, so it is not awaited.
      for (const s of this.#servers) if (s.listening) s.close();
      const drainMs = opts.drainMs ?? 5000;
      if (this.#sockets.size > 0 && drainMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all([...this.#sockets].map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()))))),
          new Promise<void>((r) => (timer = setTimeout(r, drainMs))),
        ]);
        clearTimeout(timer);
      }
      for (const s of this.#sockets) s.destroy();
    })();
    return this.#closing;
  }
}
