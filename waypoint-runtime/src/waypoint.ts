// The waypoint: configuration in, a Fastify server whose every request passes the plugin chain and is then
// forwarded to the chosen backend. Listeners: HBONE (added by hbone/), plain HTTP (tests), readiness and
// metrics. Everything a plugin may depend on is registered in one tsyringe container per waypoint. WaypointPlugin
// conditions (Active) go back to the controller through the config source when it has a way there.
// This class composes the parts and runs the request handler; each part is its own module:
//   ./config-state      config application (mesh model, resources, bound destinations)
//   ./connections       served connections, requests in flight, graceful drain
//   ./request-context   the RequestContext a request gets
//   ./admin             readiness and metrics listeners
//   ./ingress           ingress role: a socket per listener port, TLS by SNI, the listener picked per request

import 'reflect-metadata';
import type { Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ACCESS_LOG,
  CLOCK,
  container as rootContainer,
  createLogger,
  createMetricsRegistry,
  InMemoryMeshState,
  InMemoryResources,
  InMemoryTracing,
  LOGGER,
  MemoryStatusReporter,
  MESH_STATE,
  METRICS,
  PLUGIN,
  PluginChain,
  RESOURCES,
  TRACING,
  STATUS,
  systemClock,
  WAYPOINT,
  Lifecycle,
  type AccessLogSink,
  type DependencyContainer,
  type Logger,
  type MetricsRegistry,
  type Plugin,
  type PluginBinding,
  type PluginClass,
  type RequestContext,
  type ResourceRef,
  type StatusCondition,
  type WaypointIdentity,
} from '@ambit/plugin-sdk';
import {
  AuthzPlugin,
  findPluginPolicy,
  PackageLoader,
  RoutingPlugin,
  sourceAllowed,
  TelemetryPlugin,
  WAYPOINT_PLUGIN_GROUP,
  WAYPOINT_PLUGIN_KIND,
  WaypointPluginManager,
  type PluginPolicy,
  type WaypointPluginSpec,
} from '@ambit/plugins';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Socket } from 'node:net';
import type { IngressListener } from '@ambit/mesh-api';
import { hostOnly, pickRequestListener, type PortPlan } from './ingress/select.js';
import { relayPassthrough } from './ingress/passthrough.js';
import { IngressSockets } from './ingress/sockets.js';
import { tlsTerminator, type Terminator } from './ingress/tls.js';
import { AdminServers } from './admin.js';
import type { Admission } from './binding.js';
import { PluginStatusPublisher } from './config/plugin-status.js';
import type { ConfigSource, WaypointSnapshot } from './config/source.js';
import { ConfigState } from './config-state.js';
import { ServedConnections } from './connections.js';
import { DEFAULT_TRUSTED_NODE_ACCOUNTS } from './hbone/client-address.js';
import { peerOf, setPeer, type PeerInfo } from './peer.js';
import { RequestContexts } from './request-context.js';
import { buildApp, trackServedConnections, type Limits } from './server/app.js';
import { acceptH2, createH2Server } from './server/h2.js';
import { detectProtocol, type WireProtocol } from './server/preface.js';
import { jsDuplex } from './server/js-duplex.js';
import { upgradeOf } from './server/upgrade.js';
import { PlainHttpConnector, type UpstreamConnector } from './upstream/connector.js';
import { forward, sendLocal } from './upstream/forward.js';
import { forwardUpgrade } from './upstream/upgrade.js';

/** Access-log lines batched into one stdout write per event-loop turn (a write per line costs a syscall). */
function bufferedStdout(): AccessLogSink {
  let buf: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const out = buf.join('\n') + '\n';
    buf = [];
    process.stdout.write(out);
  };
  return {
    write(line: string) {
      buf.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

export const BUILTIN_PLUGINS: PluginClass[] = [AuthzPlugin, RoutingPlugin, TelemetryPlugin];

export interface WaypointOptions {
  identity: Partial<WaypointIdentity> & { name: string; namespace: string };
  source?: ConfigSource;
  connector?: UpstreamConnector;
  /** Built-in plugin classes to run (default: authz, routing, telemetry). */
  builtin?: PluginClass[];
  /** More plugins: classes (resolved in the waypoint's container) or bindings. */
  plugins?: Array<PluginClass | PluginBinding>;
  logger?: Logger;
  accessLog?: AccessLogSink;
  metrics?: MetricsRegistry;
  limits?: Limits;
  /** Cluster DNS domain for short Host names. Default cluster.local. */
  domain?: string;
  /** Where WaypointPlugin packages are installed (one directory per version). Unset: WaypointPlugins ignored. */
  pluginsDir?: string;
  /**
   * The plugin allow-list when the config holds no ConfigMap `ambit-plugin-policy` of the root namespace (which
   * the controller pushes, and which wins). Neither: no WaypointPlugin is allowed.
   */
  pluginPolicy?: PluginPolicy;
  /**
   * Namespaces besides its own and the root namespace whose WaypointPlugins this waypoint runs (`*`: any): what
   * the Gateway's owner put in its `plugins.ambit.dev/allowed-namespaces` annotation (AMBIT_PLUGIN_NAMESPACES).
   */
  pluginNamespaces?: string[];
  /** Status of resources the waypoint reads (WaypointPlugin Active, AuthorizationPolicy acceptance). */
  onStatus?(ref: ResourceRef, condition: StatusCondition): void;
  /**
   * Hops of X-Forwarded-For trusted for the original client address (`remoteIpBlocks`, `remote.ip`): Istio's
   * `numTrustedProxies`. Default 0: the header never decides; the source address does.
   */
  numTrustedProxies?: number;
  /**
   * `ns/serviceAccount` of node proxies whose `forwarded: for=` header is believed for any workload (Istio's
   * CA_TRUSTED_NODE_ACCOUNTS). Default `istio-system/ztunnel`.
   */
  trustedNodeAccounts?: string[];
  /** False while the waypoint's certificate has expired and renewal fails: readiness answers 503 meanwhile. */
  certificateValid?: () => boolean;
  /**
   * Ingress role (a snapshot with `ingress`): where its listener sockets bind (default 0.0.0.0), how long a removed
   * port's connections may finish (default 5 s), and the TLS handshake deadline (default 10 s).
   */
  ingress?: { host?: string; drainMs?: number; handshakeTimeoutMs?: number };
}

export interface ListenOptions {
  /** Plain HTTP listener (requests route by Host header). */
  http?: { port: number; host?: string };
  readiness?: { port: number; host?: string };
  metrics?: { port: number; host?: string };
}

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
  #chain: PluginChain;
  #builtin: Plugin[] = [];
  #extra: PluginBinding[] = [];
  #dynamic: PluginBinding[] = [];
  readonly #config: ConfigState;
  readonly #connections = new ServedConnections();
  readonly #contexts: RequestContexts;
  readonly #admin = new AdminServers();
  readonly #h2: Http2Server;
  #unsubscribe?: () => void;
  readonly #opts: WaypointOptions;
  readonly plugins?: WaypointPluginManager;
  readonly #publisher?: PluginStatusPublisher;
  /** What forward() needs, built once. */
  readonly #deps: { connector: UpstreamConnector; mesh: InMemoryMeshState; logger: Logger };
  /** Ingress role only: the listener sockets, created with the first snapshot that has listeners. */
  #ingress?: IngressSockets;
  #ingressListeners: IngressListener[] = [];
  /** TLS termination per port plan (its certificates). */
  readonly #terminators = new WeakMap<PortPlan, Terminator>();

  constructor(opts: WaypointOptions) {
    this.#opts = opts;
    const id = opts.identity;
    const trustDomain = id.trustDomain ?? 'cluster.local';
    const serviceAccount = id.serviceAccount ?? id.name;
    this.identity = {
      name: id.name,
      namespace: id.namespace,
      trustDomain,
      serviceAccount,
      rootNamespace: id.rootNamespace ?? 'istio-system',
      spiffeId: id.spiffeId ?? `spiffe://${trustDomain}/ns/${id.namespace}/sa/${serviceAccount}`,
      ...(id.workload ? { workload: id.workload } : {}),
    };
    this.logger = opts.logger ?? createLogger({ scope: 'waypoint' });
    this.metrics = opts.metrics ?? createMetricsRegistry();
    this.connector = opts.connector ?? new PlainHttpConnector();
    this.trustedNodeAccounts = new Set(opts.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS);
    const hops = opts.numTrustedProxies ?? 0;
    if (!Number.isInteger(hops) || hops < 0) throw new Error(`numTrustedProxies must be a whole number >= 0, got ${hops}`);
    this.numTrustedProxies = hops;
    const accessLog = opts.accessLog ?? bufferedStdout();
    this.#config = new ConfigState(this.mesh, this.resources, this.logger, () => this.#compileRoutes(), this.tracing);
    this.#deps = { connector: this.connector, mesh: this.mesh, logger: this.logger };
    this.#contexts = new RequestContexts({ mesh: this.mesh, namespace: this.identity.namespace, domain: opts.domain, numTrustedProxies: hops });

    // One container per waypoint: the tokens, then the plugin classes (ContainerScoped: one instance each).
    const c = rootContainer.createChildContainer();
    c.register(LOGGER, { useValue: this.logger });
    c.register(METRICS, { useValue: this.metrics });
    c.register(MESH_STATE, { useValue: this.mesh });
    c.register(RESOURCES, { useValue: this.resources });
    c.register(TRACING, { useValue: this.tracing });
    c.register(WAYPOINT, { useValue: this.identity });
    c.register(CLOCK, { useValue: systemClock });
    c.register(STATUS, { useValue: this.status });
    c.register(ACCESS_LOG, { useValue: accessLog });
    this.container = c;
    for (const cls of opts.builtin ?? BUILTIN_PLUGINS) c.register(PLUGIN, { useClass: cls }, { lifecycle: Lifecycle.ContainerScoped });
    this.#builtin = c.isRegistered(PLUGIN) ? c.resolveAll(PLUGIN) : [];
    this.#extra = (opts.plugins ?? []).map((p) => (typeof p === 'function' ? { plugin: c.resolve(p) } : p));
    this.#chain = this.#buildChain();
    // WaypointPlugin conditions go to the controller when the config source leads back to it.
    const source = opts.source;
    const publisher = source?.reportStatus ? new PluginStatusPublisher({ send: (r) => source.reportStatus!(r) }) : undefined;
    this.#publisher = publisher;
    if (publisher) this.resources.onChange(() => publisher.setPresent(this.resources.list(WAYPOINT_PLUGIN_KIND, WAYPOINT_PLUGIN_GROUP).map((o) => o.metadata)));
    if (opts.onStatus || publisher) {
      const report = this.status.report.bind(this.status);
      this.status.report = (ref, c) => {
        report(ref, c);
        publisher?.report(ref, c);
        opts.onStatus?.(ref, c);
      };
    }
    if (opts.pluginsDir) {
      const policy = () => findPluginPolicy(this.resources.list('ConfigMap', ''), this.identity.rootNamespace) ?? opts.pluginPolicy;
      const manager = new WaypointPluginManager({
        loader: new PackageLoader({ root: opts.pluginsDir, allowSource: (url) => sourceAllowed(policy(), url) }),
        policy,
        allowedNamespaces: opts.pluginNamespaces,
        container: c,
        waypoint: this.identity,
        logger: this.logger.child('plugins'),
        onBindings: (b) => this.setDynamicPlugins(b),
        onStatus: (ref, cond) => this.status.report(ref, cond),
      });
      this.plugins = manager;
      this.resources.onChange(() => {
        void manager.sync(this.resources.list<WaypointPluginSpec>(WAYPOINT_PLUGIN_KIND, WAYPOINT_PLUGIN_GROUP));
      });
    }
    this.app = buildApp(opts.limits ?? {}, (req, reply) => this.#handle(req, reply));
    this.#h2 = createH2Server(opts.limits ?? {}, (req, res) => this.app.routing(req as never, res as never));
  }

  get chain(): PluginChain {
    return this.#chain;
  }

  get ready(): boolean {
    return this.serving && !this.#connections.draining;
  }

  /**
   * Whether new tunnels are served: configured, with a valid certificate. Unlike `ready` it stays true while
   * draining, so a ztunnel that has not yet heard that this pod is going is still answered, not refused.
   */
  get serving(): boolean {
    return this.#config.configured && (this.#opts.certificateValid?.() ?? true) && (this.#ingress?.settled ?? true);
  }

  /** Replace the plugins that come from resources (WaypointPlugin); in-flight requests keep their chain. */
  setDynamicPlugins(bindings: PluginBinding[]): void {
    this.#dynamic = bindings;
    this.#chain = this.#buildChain();
    this.logger.info('plugin chain updated', { chain: this.#chain.entries.map((e) => `${e.phase}/${e.priority}/${e.name}`).join(',') });
  }

  /**
   * Compile the route table for the config just applied (RoutingPlugin caches it per resources/mesh version), so
   * the first request after a change does not pay for it. A table that fails to compile is left to the request
   * path, which reports the failure as before.
   */
  #compileRoutes(): void {
    for (const p of this.#builtin) {
      if (!(p instanceof RoutingPlugin)) continue;
      try {
        p.table();
      } catch {
        // the first request compiles it again and fails the same way
      }
    }
  }

  #buildChain(): PluginChain {
    return new PluginChain([...this.#builtin.map((plugin) => ({ plugin })), ...this.#extra, ...this.#dynamic], { logger: this.logger });
  }

  apply(snapshot: WaypointSnapshot): void {
    this.#config.apply(snapshot);
    if (snapshot.ingress) void this.#applyIngress(snapshot.ingress.listeners);
  }

  /** The ingress sockets in step with `listeners`, each listener's routes compiled before it takes a request. */
  #applyIngress(listeners: IngressListener[]): Promise<void> {
    this.#ingressListeners = listeners;
    for (const p of this.#builtin) {
      if (!(p instanceof RoutingPlugin)) continue;
      for (const l of listeners) {
        try {
          p.ingressRules({ listener: l.name, routes: l.routes });
        } catch {
          // compiled again (and failing the same way) on the first request
        }
      }
    }
    this.#ingress ??= new IngressSockets({
      logger: this.logger,
      host: this.#opts.ingress?.host,
      drainMs: this.#opts.ingress?.drainMs,
      onConnection: (socket, plan) => this.#onIngressConnection(socket, plan),
    });
    return this.#ingress.reconcile(listeners);
  }

  /** Ingress role: pod port -> the listeners it serves, for the ports open now. */
  get ingressPorts(): ReadonlyMap<number, PortPlan> {
    return this.#ingress?.listening ?? new Map();
  }

  /** Resolves once the ingress sockets of the last config are bound (or given up on). */
  async ingressSettled(): Promise<void> {
    while (this.#ingress && !this.#ingress.settled) await new Promise((r) => setTimeout(r, 5));
  }

  /** A connection on an ingress port: TLS terminated first when the port's listeners say so; passthrough is relayed. */
  #onIngressConnection(socket: Socket, plan: PortPlan): void {
    const clientAddress = socket.remoteAddress;
    const clientPort = socket.remotePort;
    if (plan.kind === 'http') {
      this.serve(socket, { clientAddress, clientPort, ingress: { targetPort: plan.targetPort, tls: false } });
      return;
    }
    if (plan.kind === 'terminate' && plan.sni) {
      let terminate = this.#terminators.get(plan);
      if (!terminate) {
        const targetPort = plan.targetPort;
        terminate = tlsTerminator(plan.sni, this.#opts.ingress?.handshakeTimeoutMs ?? 10_000, (t) => {
          // ALPN decided the protocol: nothing is read before the HTTP server takes the socket.
          const peer = { clientAddress: t.socket.remoteAddress, clientPort: t.socket.remotePort, ingress: { targetPort, tls: true, sni: t.sni } };
          this.serve(t.socket, peer, t.socket.alpnProtocol === 'h2' ? 'h2' : 'http1');
        });
        this.#terminators.set(plan, terminate);
      }
      terminate(socket);
      return;
    }
    if (plan.kind === 'passthrough') {
      const routing = this.#builtin.find((p): p is RoutingPlugin => p instanceof RoutingPlugin);
      void relayPassthrough(socket, plan, {
        connector: this.connector,
        logger: this.logger,
        helloTimeoutMs: this.#opts.ingress?.handshakeTimeoutMs ?? 10_000,
        route: (l, sni) => routing?.passthroughBackend({ listener: l.name, routes: l.routes, port: l.port }, sni),
      });
      return;
    }
    socket.destroy();
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
    const s = conn as Duplex & { remoteAddress?: string; remotePort?: number };
    s.remoteAddress ??= peer.clientAddress;
    s.remotePort ??= peer.clientPort;
    setPeer(conn, peer);
    // A reset tunnel must never surface as an uncaught error, whichever server reads it at that moment.
    conn.on('error', () => undefined);
    this.#connections.add(conn);
    const start = (kind: WireProtocol | null) => {
      if (kind === 'http1') {
        this.app.server.emit('connection', conn);
        conn.resume();
      } else if (kind === 'h2') {
        // A native socket whose first bytes were read for detection goes through a JS stream (see jsDuplex).
        const h2conn = !known && conn instanceof Socket ? jsDuplex(conn) : conn;
        const session = acceptH2(this.#h2, h2conn);
        setPeer(session, peer);
        this.#connections.addSession(conn, session);
      }
    };
    if (known) start(known);
    else void detectProtocol(conn, this.#opts.limits?.keepAliveTimeoutMs ?? 60_000).then(start);
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
    this.#publisher?.close();
    await this.#opts.source?.stop();
    // Ingress ports stop accepting at once; their connections drain with the rest.
    await Promise.all([this.#connections.drain(this.app.server, graceMs), this.#ingress?.close(graceMs)]);
    await this.app.close();
    await this.#admin.close();
    await this.connector.close();
    await this.plugins?.close();
    // Span export stops (its queue is flushed in the background, never holding the close up).
    this.tracing.replace(undefined);
  }

  /**
   * Pick the listener of the request's port for its Host, and record it on the context: the client is the socket's
   * peer, appended to X-Forwarded-For (never trusted from it), the scheme is the listener's. Else the status to
   * answer: 404 (no listener serves the Host), 421 (the Host belongs to another listener than the SNI chose).
   */
  #enterIngress(ctx: RequestContext, conn: NonNullable<PeerInfo['ingress']>): true | 404 | 421 {
    const listeners = this.#ingress?.planOf(conn.targetPort)?.listeners ?? this.#ingressListeners.filter((l) => l.targetPort === conn.targetPort);
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

  async #handle(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const chain = this.#chain;
    const ctx = this.#contexts.of(req);
    const end = this.#connections.begin(req.raw);
    const h2 = req.raw.httpVersionMajor === 2;
    const upgrade = h2 ? undefined : upgradeOf(req.raw);
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      end();
      // An upgraded request lasts as long as its connection; it ends without a "finished" response.
      if (!reply.raw.writableFinished && ctx.response?.status !== 101) {
        ctx.responseFlags = ctx.responseFlags === '-' ? 'DC' : ctx.responseFlags;
        ctx.response ??= { status: 0, headers: {} };
      }
      chain.onLog(ctx).catch(() => undefined);
    };
    reply.raw.once('close', done);
    if (this.#connections.draining && !h2) reply.header('connection', 'close');
    try {
      const peer = peerOf(req.raw);
      // An ingress listener serves only its routes' backends: the listener is chosen by Host (404 without one).
      const refused = peer?.ingress ? this.#enterIngress(ctx, peer.ingress) : true;
      if (refused !== true) {
        ctx.responseFlags = 'NR';
        sendLocal(reply, ctx, { status: refused, body: '' });
        return reply;
      }
      // Tunnels were admitted by their CONNECT authority; the plain listener routes by Host, held to the same rule.
      if (!peer) {
        const admission = this.#config.admitResolved(ctx.destination);
        if (!admission.ok) {
          this.logger.debug('request refused', { authority: ctx.request.authority, reason: admission.reason });
          ctx.responseFlags = 'NR';
          sendLocal(reply, ctx, { status: 404, body: '' });
          return reply;
        }
      }
      await chain.onRequest(ctx);
      const lr = ctx.localReply;
      if (lr) {
        ctx.responseFlags = lr.flag ?? ctx.responseFlags;
        ctx.response = { status: lr.status, headers: { ...lr.headers } };
        ctx.applyResponseHeaderOps(ctx.response.headers);
        await chain.onResponse(ctx);
        const final = ctx.localReply ?? lr;
        sendLocal(reply, ctx, { status: ctx.response.status === lr.status ? final.status : ctx.response.status, body: final.body, headers: ctx.response.headers as Record<string, string> });
        return reply;
      }
      // Never an arbitrary Host from an ingress listener: only a backend a route chose.
      if (peer?.ingress && (!ctx.route || ctx.route.name === 'default')) {
        ctx.responseFlags = 'NR';
        sendLocal(reply, ctx, { status: 404, body: '' });
        return reply;
      }
      const deps = this.#deps;
      if (upgrade) await forwardUpgrade(ctx, req, reply, chain, upgrade, deps);
      else await forward(ctx, req, reply, chain, deps);
    } catch (err) {
      this.logger.error('request failed', { error: (err as Error).message, path: ctx.request.path });
      if (!reply.sent) sendLocal(reply, ctx, { status: 500, body: 'internal error' });
    }
    return reply;
  }
}
