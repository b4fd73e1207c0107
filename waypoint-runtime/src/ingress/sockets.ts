// The ingress gateway's server sockets: one per pod port its listeners use, kept in step with the config. A port
// that stays keeps its socket (its connections never notice a change elsewhere; new connections see the new
// listeners); a new port is opened; a removed port stops accepting and its connections get a short drain before
// they are closed. A port that cannot be bound is logged with its listeners' names and skipped.

import { createServer, type Server, type Socket } from 'node:net';
import type { IngressListener } from '@ambit/mesh-api';
import type { Logger } from '@ambit/plugin-sdk';
import { planPorts, type PortPlan } from './select.js';

interface OpenPort {
  server: Server;
  plan: PortPlan;
  conns: Set<Socket>;
  /** Resolves once bound (or failed). */
  bound: Promise<boolean>;
}

export interface IngressSocketsOptions {
  logger: Logger;
  /** Address to bind. Default 0.0.0.0. */
  host?: string;
  /** How long connections of a removed port may finish. Default 5 s. */
  drainMs?: number;
  /** A connection accepted on a port, with the port's current plan. */
  onConnection(socket: Socket, plan: PortPlan): void;
}

export class IngressSockets {
  readonly #ports = new Map<number, OpenPort>();
  readonly #opts: IngressSocketsOptions;
  #settled: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed = false;

  constructor(opts: IngressSocketsOptions) {
    this.#opts = opts;
  }

  /** True when every port of the last config is open or was given up on (none still binding). */
  get settled(): boolean {
    return this.#pending === 0;
  }

  /** Ports listening now: pod port -> its plan. */
  get listening(): ReadonlyMap<number, PortPlan> {
    const out = new Map<number, PortPlan>();
    for (const [port, p] of this.#ports) if (p.server.listening) out.set(port, p.plan);
    return out;
  }

  /** The current plan of a listening port (undefined once it is removed). */
  planOf(port: number): PortPlan | undefined {
    return this.#ports.get(port)?.plan;
  }

  /** Bring the sockets in step with `listeners`; resolves once every new port is bound or skipped. */
  reconcile(listeners: readonly IngressListener[]): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const plans = planPorts(listeners, this.#opts.logger);
    for (const [port, open] of this.#ports) {
      if (!plans.has(port)) {
        this.#ports.delete(port);
        this.#drain(port, open);
      }
    }
    const binding: Array<Promise<boolean>> = [];
    for (const [port, plan] of plans) {
      const open = this.#ports.get(port);
      if (open) open.plan = plan;
      else binding.push(this.#open(port, plan));
    }
    this.#settled = Promise.all(binding).then(() => undefined);
    return this.#settled;
  }

  #open(port: number, plan: PortPlan): Promise<boolean> {
    const conns = new Set<Socket>();
    // No Nagle: HTTP/2 sends a call's HEADERS, DATA and trailers as separate small writes, which Nagle would hold
    // for the client's delayed ACK (~40 ms a call on Linux), as node:http's own servers avoid by default.
    const server = createServer({ noDelay: true }, (socket) => {
      const open = this.#ports.get(port);
      if (!open || open.server !== server) {
        socket.destroy();
        return;
      }
      conns.add(socket);
      socket.once('close', () => conns.delete(socket));
      socket.on('error', () => undefined);
      this.#opts.onConnection(socket, open.plan);
    });
    this.#pending++;
    const bound = new Promise<boolean>((resolve) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const open = this.#ports.get(port);
        if (open?.server === server) this.#ports.delete(port);
        const names = (open?.plan ?? plan).listeners.map((l) => l.name).join(',');
        this.#opts.logger.error('ingress listener skipped', { listener: names, port, reason: `cannot listen: ${err.code ?? err.message}` });
        resolve(false);
      });
      server.listen(port, this.#opts.host ?? '0.0.0.0', () => {
        server.on('error', (err) => this.#opts.logger.warn('ingress socket error', { port, error: err.message }));
        this.#opts.logger.info('ingress listening', { port, kind: plan.kind, listeners: plan.listeners.map((l) => l.name).join(',') });
        resolve(true);
      });
    }).finally(() => this.#pending--);
    this.#ports.set(port, { server, plan, conns, bound });
    return bound;
  }

  /** Stop accepting on a removed port; its connections get `drainMs` to finish, then are closed. */
  #drain(port: number, open: OpenPort, drainMs = this.#opts.drainMs ?? 5000): Promise<void> {
    this.#opts.logger.info('ingress port closing', { port });
    const closed = new Promise<void>((r) => open.server.close(() => r()));
    const timer = setTimeout(() => {
      for (const c of open.conns) c.destroy();
    }, drainMs);
    timer.unref?.();
    return closed.finally(() => clearTimeout(timer));
  }

  /** Close every port: connections get `graceMs` (the process's drain handles the requests on them). */
  async close(graceMs = 0): Promise<void> {
    this.#closed = true;
    const all = [...this.#ports.entries()];
    this.#ports.clear();
    await Promise.all(all.map(([port, open]) => open.bound.then(() => this.#drain(port, open, graceMs))));
  }
}
