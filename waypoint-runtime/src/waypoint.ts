// The waypoint: configuration in, a Fastify server whose every request passes the plugin chain and is then
// forwarded to the chosen backend. Listeners: HBONE (added by hbone/), plain HTTP (tests), readiness and
// metrics. This class only composes the parts, each its own module:
//   ./options           what a waypoint is built from, with its defaults
//   ./plugin-host       the tsyringe container, the plugin chain, WaypointPlugin packages and their status
//   ./config-state      config application (mesh model, resources, bound destinations)
//   ./connections       served connections, requests in flight, graceful drain
//   ./server/serve      HTTP over a handed-in connection (protocol detection)
//   ./request-pipeline  the request handler: context, admission, chain, local reply or forward, access log
//   ./request-context   the RequestContext a request gets
//   ./admin             readiness and metrics listeners
//   ./access-log        the default access-log sink (buffered stdout)
//   ./ingress           ingress role: a socket per listener port, TLS by SNI, the listener picked per request

import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  createLogger,
  createMetricsRegistry,
  InMemoryMeshState,
  InMemoryResources,
  InMemoryTracing,
  MemoryStatusReporter,
  type DependencyContainer,
  type Logger,
  type MetricsRegistry,
  type PluginBinding,
  type PluginChain,
  type WaypointIdentity,
} from '@ambit/plugin-sdk';
import type { WaypointPluginManager } from '@ambit/plugins';
import type { FastifyInstance } from 'fastify';
import { bufferedStdout } from './access-log.js';
import { AdminServers } from './admin.js';
import type { Admission } from './binding.js';
import type { WaypointSnapshot } from './config/source.js';
import { ConfigState } from './config-state.js';
import { ServedConnections } from './connections.js';
import { DEFAULT_TRUSTED_NODE_ACCOUNTS } from './hbone/client-address.js';
import { IngressListeners } from './ingress/listeners.js';
import type { PortPlan } from './ingress/select.js';
import { identityOf, trustedHops, type ListenOptions, type WaypointOptions } from './options.js';
import type { PeerInfo } from './peer.js';
import { PluginHost } from './plugin-host.js';
import { RequestContexts } from './request-context.js';
import { RequestPipeline } from './request-pipeline.js';
import { buildApp, trackServedConnections } from './server/app.js';
import { createH2Server } from './server/h2.js';
import type { WireProtocol } from './server/preface.js';
import { ConnectionServer } from './server/serve.js';
import { PlainHttpConnector, type UpstreamConnector } from './upstream/connector.js';
import { registerForwarding } from './upstream/endpoint-dispatcher.js';

export { BUILTIN_PLUGINS } from './plugin-host.js';
export type { ListenOptions, WaypointOptions } from './options.js';

export class Waypoint {
  readonly identity: WaypointIdentity;
  readonly container: DependencyContainer;
  readonly mesh = new InMemoryMeshState();
  readonly resources = new InMemoryResources();
  /** Span-export settings from the config (plugins read them through TRACING); absent: tracing off. */
  readonly tracing = new InMemoryTracing();
  readonly metrics: MetricsRegistry;
  readonly status = new MemoryStatusReporter();
  readonly logger: Logger;
  readonly app: FastifyInstance;
  readonly connector: UpstreamConnector;
  readonly trustedNodeAccounts: ReadonlySet<string>;
  readonly numTrustedProxies: number;
  readonly plugins?: WaypointPluginManager;
  readonly #opts: WaypointOptions;
  readonly #host: PluginHost;
  readonly #config: ConfigState;
  readonly #connections = new ServedConnections();
  readonly #admin = new AdminServers();
  readonly #ingress: IngressListeners;
  readonly #server: ConnectionServer;
  #unsubscribe?: () => void;

  constructor(opts: WaypointOptions) {
    this.#opts = opts;
    this.identity = identityOf(opts.identity);
    this.logger = opts.logger ?? createLogger({ scope: 'waypoint' });
    this.metrics = opts.metrics ?? createMetricsRegistry();
    this.connector = opts.connector ?? new PlainHttpConnector();
    this.trustedNodeAccounts = new Set(opts.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS);
    this.numTrustedProxies = trustedHops(opts.numTrustedProxies);
    const accessLog = opts.accessLog ?? bufferedStdout();
    this.#config = new ConfigState(this.mesh, this.resources, this.logger, () => this.#host.configApplied(), this.tracing);
    const parts = { identity: this.identity, logger: this.logger, metrics: this.metrics, mesh: this.mesh, resources: this.resources, tracing: this.tracing, status: this.status, accessLog };
    this.#host = new PluginHost(parts, opts);
    this.container = this.#host.container;
    this.plugins = this.#host.plugins;
    this.#ingress = new IngressListeners({ ...opts.ingress, logger: this.logger, connector: this.connector, routers: this.#host.routers, serve: (c, p, k) => this.serve(c, p, k) });
    const pipeline = new RequestPipeline({
      chain: () => this.#host.chain,
      contexts: new RequestContexts({ mesh: this.mesh, namespace: this.identity.namespace, domain: opts.domain, numTrustedProxies: this.numTrustedProxies }),
      connections: this.#connections,
      config: this.#config,
      ingress: this.#ingress,
      connector: this.connector,
      mesh: this.mesh,
      logger: this.logger,
    });
    this.app = buildApp(opts.limits ?? {}, (req, reply) => pipeline.handle(req, reply));
    registerForwarding(this.app);
    const h2 = createH2Server(opts.limits ?? {}, (req, res) => this.app.routing(req as never, res as never));
    this.#server = new ConnectionServer({ http1: this.app.server, h2, connections: this.#connections, keepAliveTimeoutMs: opts.limits?.keepAliveTimeoutMs ?? 60_000 });
  }

  get chain(): PluginChain {
    return this.#host.chain;
  }

  get ready(): boolean {
    return this.serving && !this.#connections.draining;
  }

  /**
   * Whether new tunnels are served: configured, with a valid certificate. Unlike `ready` it stays true while
   * draining, so a ztunnel that has not yet heard that this pod is going is still answered, not refused.
   */
  get serving(): boolean {
    return this.#config.configured && (this.#opts.certificateValid?.() ?? true) && this.#ingress.settled;
  }

  /** Replace the plugins that come from resources (WaypointPlugin); in-flight requests keep their chain. */
  setDynamicPlugins(bindings: PluginBinding[]): void {
    this.#host.setDynamicPlugins(bindings);
  }

  apply(snapshot: WaypointSnapshot): void {
    this.#config.apply(snapshot);
    if (snapshot.ingress) void this.#ingress.apply(snapshot.ingress.listeners);
  }

  /** Ingress role: pod port -> the listeners it serves, for the ports open now. */
  get ingressPorts(): ReadonlyMap<number, PortPlan> {
    return this.#ingress.ports;
  }

  /** Resolves once the ingress sockets of the last config are bound (or given up on). */
  ingressSettled(): Promise<void> {
    return this.#ingress.whenSettled();
  }

  /**
   * Whether a tunnel to `authority` (the CONNECT `:authority`) is one this waypoint serves: a Service bound to it
   * on one of its ports, or a workload bound to it. Everything else is refused (see ./binding).
   */
  admit(authority: string): Admission {
    return this.#config.admit(authority);
  }

  /** Prepare Fastify and subscribe to the config source. */
  async start(): Promise<void> {
    await this.app.ready();
    // Tunnelled HTTP/1.1 gets the header and request timeouts even when no plain listener is opened.
    trackServedConnections(this.app.server);
    if (this.#opts.source) {
      this.#unsubscribe = this.#opts.source.onUpdate((s) => this.apply(s));
      await this.#opts.source.start();
    }
  }

  /**
   * Serve HTTP over any Duplex (an HBONE CONNECT stream), attributing it to `peer`: HTTP/2 when its first bytes
   * are the HTTP/2 preface (h2c with prior knowledge), else HTTP/1.x. Both reach the same Fastify routes. A
   * connection that sends nothing for the keep-alive timeout is closed.
   */
  serve(conn: Duplex, peer: PeerInfo, known?: WireProtocol): void {
    this.#server.serve(conn, peer, known);
  }

  async listen(opts: ListenOptions): Promise<{ http?: number; readiness?: number; metrics?: number }> {
    const out: { http?: number; readiness?: number; metrics?: number } = {};
    if (opts.http) {
      await this.app.listen({ port: opts.http.port, host: opts.http.host ?? '0.0.0.0' });
      out.http = (this.app.server.address() as AddressInfo).port;
    }
    if (opts.readiness) out.readiness = await this.#admin.readiness(opts.readiness, () => this.ready);
    if (opts.metrics) out.metrics = await this.#admin.metrics(opts.metrics, this.metrics);
    return out;
  }

  /** The first step of a drain: readiness turns 503 and HTTP/1.1 responses carry `connection: close`. */
  startDrain(): void {
    this.#connections.startDrain();
  }

  /**
   * Graceful drain: readiness turns 503, no new connections, idle keep-alive connections closed, in-flight
   * requests get up to `graceMs` to finish, then everything is closed.
   */
  async close(graceMs = 5000): Promise<void> {
    this.#connections.startDrain();
    this.#unsubscribe?.();
    this.#host.stopStatus();
    await this.#opts.source?.stop();
    // Ingress ports stop accepting at once; their connections drain with the rest.
    await Promise.all([this.#connections.drain(this.app.server, graceMs), this.#ingress.close(graceMs)]);
    await this.app.close();
    await this.#admin.close();
    await this.connector.close();
    await this.#host.close();
    // Span export stops (its queue is flushed in the background, never holding the close up).
    this.tracing.replace(undefined);
  }
}
