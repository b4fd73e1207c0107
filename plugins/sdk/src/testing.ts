// The test kit for plugin authors: run a plugin (or several) against a fake request and look at what a client
// and the upstream would see. Import from `@ambit/plugin-sdk/testing`.
//
//   const r = await runPlugin(MyPlugin, { method: 'GET', path: '/x', headers: { a: 'b' }, config: { ... } });
//   t.is(r.status, 200); t.is(r.requestHeaders['x-added'], 'yes');

import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { PluginChain } from './chain.js';
import { RequestContext, type Headers, type IngressInfo, type LocalReply, type Route } from './context.js';
import { resolveDestination, resolveSource, trustedClientAddress } from './destination.js';
import { memoryLogger, type Logger } from './logger.js';
import { InMemoryMeshState, type ServiceView, type WorkloadView } from './mesh.js';
import { createMetricsRegistry, type MetricsRegistry } from './metrics.js';
import type { FailStrategy, Plugin, PluginBinding, PluginClass } from './plugin.js';
import { InMemoryResources, type K8sObject } from './resources.js';
import { ACCESS_LOG, CLOCK, LOGGER, MESH_STATE, METRICS, MemoryStatusReporter, RESOURCES, STATUS, TRACING, WAYPOINT, type Clock, type WaypointIdentity } from './tokens.js';
import { InMemoryTracing, type TracingSettings } from './tracing.js';

export interface TestEnvOptions {
  services?: ServiceView[];
  workloads?: WorkloadView[];
  resources?: K8sObject[];
  waypoint?: Partial<WaypointIdentity>;
  /** Fixed epoch ms for CLOCK.now(); sleep() resolves immediately and advances it. */
  now?: number;
  /** Span-export settings (token TRACING); absent: tracing off. */
  tracing?: TracingSettings;
}

export interface TestEnv {
  container: DependencyContainer;
  logger: Logger & { lines: string[] };
  metrics: MetricsRegistry;
  mesh: InMemoryMeshState;
  resources: InMemoryResources;
  waypoint: WaypointIdentity;
  clock: Clock & { advance(ms: number): void };
  status: MemoryStatusReporter;
  accessLog: string[];
  tracing: InMemoryTracing;
  /** Instantiate a plugin class with the env's tokens. */
  create<T extends Plugin>(cls: PluginClass<T>): T;
}

export function createTestEnv(opts: TestEnvOptions = {}): TestEnv {
  const container = rootContainer.createChildContainer();
  const logger = memoryLogger();
  const metrics = createMetricsRegistry();
  const mesh = new InMemoryMeshState({ services: opts.services, workloads: opts.workloads });
  const resources = new InMemoryResources(opts.resources ?? []);
  const w = opts.waypoint ?? {};
  const waypoint: WaypointIdentity = {
    name: w.name ?? 'waypoint',
    namespace: w.namespace ?? 'default',
    trustDomain: w.trustDomain ?? 'cluster.local',
    serviceAccount: w.serviceAccount ?? w.name ?? 'waypoint',
    rootNamespace: w.rootNamespace ?? 'istio-system',
    spiffeId: '',
    ...(w.workload ? { workload: w.workload } : {}),
  };
  waypoint.spiffeId = w.spiffeId ?? `spiffe://${waypoint.trustDomain}/ns/${waypoint.namespace}/sa/${waypoint.serviceAccount}`;
  let now = opts.now ?? Date.UTC(2026, 0, 1);
  let mono = 0;
  const clock = {
    now: () => now,
    monotonic: () => mono,
    sleep: async (ms: number) => {
      now += ms;
      mono += ms;
    },
    advance: (ms: number) => {
      now += ms;
      mono += ms;
    },
  };
  container.register(LOGGER, { useValue: logger });
  container.register(METRICS, { useValue: metrics });
  container.register(MESH_STATE, { useValue: mesh });
  container.register(RESOURCES, { useValue: resources });
  container.register(WAYPOINT, { useValue: waypoint });
  container.register(CLOCK, { useValue: clock });
  const status = new MemoryStatusReporter();
  const accessLog: string[] = [];
  container.register(STATUS, { useValue: status });
  container.register(ACCESS_LOG, { useValue: { write: (l: string) => void accessLog.push(l) } });
  const tracing = new InMemoryTracing(opts.tracing);
  container.register(TRACING, { useValue: tracing });
  return { container, logger, metrics, mesh, resources, waypoint, clock, status, accessLog, tracing, create: (cls) => container.resolve(cls) };
}

export interface FakeRequest {
  method?: string;
  /** Path with optional `?query`. */
  path?: string;
  headers?: Record<string, string | string[]>;
  /** Host header; defaults to the destination authority. */
  authority?: string;
  /** Source SPIFFE ID (`spiffe://cluster.local/ns/default/sa/sleep`) and address. */
  principal?: string;
  sourceAddress?: string;
  sourcePort?: number;
  /** Hops of `X-Forwarded-For` the runtime trusts (Istio's `numTrustedProxies`); default 0: the header is ignored. */
  numTrustedProxies?: number;
  /** The HBONE CONNECT authority (`ip:port`) or a service host (`reviews:9080`). Default `10.96.0.1:80`. */
  destination?: string;
  body?: string;
  /** What the fake upstream answers when the chain lets the request through. */
  upstream?: { status?: number; headers?: Record<string, string>; body?: string };
  /** The ingress listener the request arrived on (an ingress gateway's request); absent on a waypoint. */
  ingress?: IngressInfo;
}

export interface PluginRunResult {
  ctx: RequestContext;
  /** Status the client gets: the local reply's, else the upstream's. */
  status: number;
  /** Body the client gets (local reply body or the fake upstream body). */
  body: string;
  /** Set when the chain replied locally (deny, redirect, fault, failure). */
  localReply?: LocalReply;
  /** Whether the request reached the (fake) upstream. */
  forwarded: boolean;
  /** Request headers as the upstream would have received them. */
  requestHeaders: Headers;
  /** Response headers as the client receives them. */
  responseHeaders: Headers;
  route?: Route;
  logs: string[];
  env: TestEnv;
}

export type PluginUnderTest = PluginClass | Plugin | (PluginBinding & { plugin: Plugin | PluginClass });

export interface RunOptions {
  env?: TestEnv;
  /** Per-plugin config (ctx.config) for a single plugin run. */
  config?: unknown;
  failStrategy?: FailStrategy;
  timeoutMs?: number;
}

/** Build a context for a fake request, as the runtime would. */
export function fakeContext(req: FakeRequest = {}, env: TestEnv = createTestEnv()): RequestContext {
  const rawPath = req.path ?? '/';
  const q = rawPath.indexOf('?');
  const path = q < 0 ? rawPath : rawPath.slice(0, q);
  const rawQuery = q < 0 ? '' : rawPath.slice(q + 1);
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) if (!(k in query)) query[k] = v;
  const destination = resolveDestination(env.mesh, req.destination ?? '10.96.0.1:80', { namespace: env.waypoint.namespace });
  const headers: Headers = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  const authority = req.authority ?? (headers.host as string | undefined) ?? req.destination ?? '10.96.0.1:80';
  const source = resolveSource(env.mesh, req.principal, req.sourceAddress ?? '10.244.0.10', req.sourcePort ?? 40000);
  source.remoteAddress = trustedClientAddress(headers['x-forwarded-for'], source.address, req.numTrustedProxies);
  return new RequestContext({
    source,
    destination,
    request: { method: req.method ?? 'GET', path, rawQuery, query, headers, authority, scheme: 'http', protocol: 'HTTP/1.1' },
    startTime: env.clock.now(),
    ...(req.ingress ? { ingress: req.ingress } : {}),
  });
}

function toBinding(p: PluginUnderTest, env: TestEnv, opts: RunOptions): PluginBinding {
  if (typeof p === 'function') return { plugin: env.create(p), config: opts.config, failStrategy: opts.failStrategy, timeoutMs: opts.timeoutMs };
  if ('plugin' in p && p.plugin) {
    const plugin = typeof p.plugin === 'function' ? env.create(p.plugin) : p.plugin;
    return { ...p, plugin };
  }
  return { plugin: p as Plugin, config: opts.config, failStrategy: opts.failStrategy, timeoutMs: opts.timeoutMs };
}

/** Run one plugin (class or instance) through the whole request lifecycle against a fake request. */
export function runPlugin(plugin: PluginUnderTest, req: FakeRequest = {}, opts: RunOptions = {}): Promise<PluginRunResult> {
  return runChain([plugin], req, opts);
}

/** Run several plugins as one chain (ordered by phase and priority, as the runtime does). */
export async function runChain(plugins: PluginUnderTest[], req: FakeRequest = {}, opts: RunOptions = {}): Promise<PluginRunResult> {
  const env = opts.env ?? createTestEnv();
  const chain = new PluginChain(plugins.map((p) => toBinding(p, env, opts)), { logger: env.logger });
  const ctx = fakeContext(req, env);
  ctx.requestBytes = req.body ? Buffer.byteLength(req.body) : 0;
  await chain.onRequest(ctx);
  const requestHeaders = { ...ctx.request.headers };
  let body: string;
  const forwarded = !ctx.localReply;
  if (ctx.localReply) {
    if (ctx.localReply.flag) ctx.responseFlags = ctx.localReply.flag;
    ctx.response = { status: ctx.localReply.status, headers: { ...ctx.localReply.headers } };
    body = ctx.localReply.body;
  } else {
    const up = req.upstream ?? {};
    ctx.response = { status: up.status ?? 200, headers: { ...(up.headers ?? {}) } };
    body = up.body ?? '';
  }
  ctx.applyResponseHeaderOps(ctx.response.headers);
  await chain.onResponse(ctx);
  if (ctx.localReply && forwarded) {
    // a plugin failed closed in onResponse
    ctx.response = { status: ctx.localReply.status, headers: { ...ctx.localReply.headers } };
    body = ctx.localReply.body;
  }
  ctx.response.bytes = Buffer.byteLength(body);
  await chain.onLog(ctx);
  return {
    ctx,
    status: ctx.response.status,
    body,
    localReply: ctx.localReply,
    forwarded,
    requestHeaders,
    responseHeaders: ctx.response.headers,
    route: ctx.route,
    logs: env.logger.lines,
    env,
  };
}
