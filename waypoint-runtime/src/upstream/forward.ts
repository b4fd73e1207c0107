// Forward one request to the backend its route chose: pick the endpoint(s), send through the connector's
// dispatcher (HTTP/1.1 or h2c, see ./protocol), retry what may be retried, map failures to Envoy-like local
// replies, run the chain's onResponse hooks on the upstream headers, stream the body back, then the upstream's
// trailers (gRPC status). Bodies stream both ways, never buffered.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import {
  spiffeId,
  workloadLabels,
  type Backend,
  type Endpoint,
  type Headers,
  type Logger,
  type MeshStateReader,
  type PluginChain,
  type RequestContext,
  type Route,
} from '@ambit/plugin-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UpstreamConnector } from './connector.js';
import { classify, connectFailure, NO_HEALTHY_UPSTREAM, UPSTREAM_TIMEOUT, type UpstreamFailure } from './errors.js';
import { encodeGrpcMessage, grpcStatusOf, isGrpc, takeGrpcStatus } from './grpc.js';
import type { UpstreamResponse } from './h2.js';
import { EXCHANGE, UPSTREAM_URL, type UpstreamExchange } from './endpoint-dispatcher.js';
import { upstreamProtocol, type UpstreamProtocol } from './protocol.js';
import { waypointHop } from './waypoint-hop.js';

export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'upgrade', 'trailer', 'http2-settings']);
/** Trailer fields a response may not carry (RFC 9110 §6.5.1) plus hop-by-hop ones. */
const NOT_TRAILERS = new Set([...HOP_BY_HOP, 'content-length', 'content-type', 'content-encoding', 'content-range', 'host', 'authorization', 'set-cookie', 'cache-control', 'max-forwards']);

export interface ForwardDeps {
  connector: UpstreamConnector;
  mesh: MeshStateReader;
  logger: Logger;
}

/** The default route: the destination service itself, or the original destination address. */
export function defaultRoute(ctx: RequestContext): Route {
  const s = ctx.destination.service;
  if (s) return { name: 'default', backend: { service: { hostname: s.hostname, namespace: s.namespace, name: s.name, port: s.port } } };
  const w = ctx.destination.workload;
  return {
    name: 'default',
    backend: {
      // A captured pod is reached over HBONE, and only if it presents its own identity.
      endpoint: { address: ctx.destination.address, port: ctx.destination.port, workload: w, protocol: w?.protocol ?? 'TCP', identity: w ? spiffeId(w) : undefined },
    },
  };
}

/** Round-robin position per service port (bounded: cleared when it would outgrow the services it counts). */
const rr = new Map<string, number>();
const MAX_RR_KEYS = 4096;

/** Endpoints to try, in order: the chosen one, its alternatives; or the service's (subset) endpoints, round-robin. */
export function candidates(backend: Backend, mesh: MeshStateReader): Endpoint[] {
  if (backend.endpoint) return backend.alternatives ? [backend.endpoint, ...backend.alternatives] : [backend.endpoint];
  const s = backend.service;
  if (!s) return [];
  const view = mesh.serviceByHostname(s.hostname);
  if (!view) return [];
  let eps = mesh.endpoints(view, s.port);
  if (backend.subset) {
    const want = Object.entries(backend.subset);
    eps = eps.filter((e) => {
      const l = e.workload ? workloadLabels(e.workload) : {};
      return want.every(([k, v]) => l[k] === v);
    });
  }
  if (eps.length <= 1) return eps;
  const key = `${s.hostname}:${s.port}`;
  const i = (rr.get(key) ?? 0) % eps.length;
  if (rr.size >= MAX_RR_KEYS && !rr.has(key)) rr.clear();
  rr.set(key, i + 1);
  return [...eps.slice(i), ...eps.slice(0, i)];
}

/**
 * Header names a message's `Connection` field nominates as hop-by-hop (RFC 9110 §7.6.1): they end at this hop.
 * `te` is left to the caller (its `trailers` value survives as the TE rules allow).
 */
export function connectionNominated(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  if (value === undefined) return out;
  for (const token of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const name = token.trim().toLowerCase();
    if (name && name !== 'te') out.add(name);
  }
  return out;
}

export function upstreamHeaders(ctx: RequestContext, route: Route): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const h = ctx.request.headers;
  const nominated = connectionNominated(h.connection);
  for (const k in h) {
    const v = h[k];
    if (v === undefined || nominated.has(k)) continue;
    if (HOP_BY_HOP.has(k)) {
      // `te: trailers` announces that the client takes trailers (gRPC needs it over HTTP/2); no other TE passes.
      if (k === 'te' && String(v).toLowerCase().split(/\s*,\s*/).includes('trailers')) out.te = 'trailers';
      continue;
    }
    // The waypoint answers `expect: 100-continue` itself; pseudo-header names never travel as fields.
    if (k === 'expect' || k.charCodeAt(0) === 58) continue;
    out[k] = v;
  }
  out.host = route.rewrite?.authority ?? ctx.request.authority;
  out['x-forwarded-proto'] ??= ctx.request.scheme;
  out['x-request-id'] = ctx.id;
  return out;
}

export function responseHeaders(h: IncomingHttpHeaders): Headers {
  const out: Headers = {};
  const nominated = connectionNominated(h.connection);
  for (const k in h) {
    if (!HOP_BY_HOP.has(k) && !nominated.has(k)) out[k] = h[k];
  }
  return out;
}

function hasBody(req: FastifyRequest): boolean {
  // HTTP/2: a request without a body ends its stream with its HEADERS frame (no content-length needed).
  if (req.raw.httpVersionMajor === 2) return !(req.raw as unknown as Http2ServerRequest).stream.endAfterHeaders;
  const h = (req.raw as IncomingMessage).headers;
  return (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined;
}

async function* counted(ctx: RequestContext, source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    ctx.requestBytes += chunk.length;
    yield chunk;
  }
}

function retriableStatus(route: Route, status: number): boolean {
  const r = route.retries;
  if (!r) return false;
  if (r.retryOn.includes('5xx') && status >= 500) return true;
  if (r.retryOn.includes('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (r.retryOn.includes('retriable-4xx') && status === 409) return true;
  if (r.retryOn.includes('retriable-status-codes') && r.retriableStatusCodes?.includes(status)) return true;
  return false;
}

function retriableError(route: Route, kind: string): boolean {
  const on = route.retries?.retryOn ?? [];
  if (kind === 'connect') return on.includes('connect-failure') || on.includes('5xx') || on.includes('gateway-error') || on.includes('refused-stream');
  if (kind === 'reset') return on.includes('reset') || on.includes('5xx');
  if (kind === 'timeout') return on.includes('5xx') || on.includes('gateway-error');
  return false;
}

function isH2(reply: FastifyReply): boolean {
  return reply.request.raw.httpVersionMajor === 2;
}

/**
 * Send a reply the waypoint makes itself. To a gRPC request it is a gRPC status, as Envoy sends it: HTTP 200,
 * grpc-status mapped from `status`, grpc-message the body (trailers over HTTP/2, headers over HTTP/1.1).
 */
export function sendLocal(reply: FastifyReply, ctx: RequestContext, f: { status: number; body: string; headers?: Record<string, string> }): void {
  const headers: Headers = { 'content-type': 'text/plain', ...(f.headers ?? {}) };
  ctx.response = { status: f.status, headers };
  ctx.applyResponseHeaderOps(headers);
  send(reply, ctx, f.body);
}

/** Send `ctx.response` (header operations applied) with `body`, or as a gRPC status to a gRPC request. */
function send(reply: FastifyReply, ctx: RequestContext, body: string): void {
  const res = ctx.response!;
  if (isGrpc(ctx.request.headers)) {
    const status = { 'grpc-status': String(grpcStatusOf(res.status)), 'grpc-message': encodeGrpcMessage(body) };
    res.status = 200;
    res.headers['content-type'] = 'application/grpc';
    res.bytes = 0;
    if (isH2(reply)) reply.raw.addTrailers(status);
    else Object.assign(res.headers, status);
    reply.code(200).headers(res.headers).send();
    return;
  }
  res.bytes = Buffer.byteLength(body);
  reply.code(res.status).headers(res.headers).send(body);
}

/** Forward; returns once the response has been handed to Fastify (streaming may still be going on). */
export async function forward(ctx: RequestContext, req: FastifyRequest, reply: FastifyReply, chain: PluginChain, deps: ForwardDeps): Promise<void> {
  const route = (ctx.route ??= defaultRoute(ctx));
  // From outside the mesh (an ingress gateway), a Service with a waypoint is reached through its waypoint.
  const hop = ctx.ingress ? waypointHop(route.backend, deps.mesh) : undefined;
  if (hop) route.backend.alternatives = undefined;
  const eps = hop ? [hop] : candidates(route.backend, deps.mesh);
  if (eps.length === 0) {
    ctx.responseFlags = NO_HEALTHY_UPSTREAM.flag;
    return finishLocal(ctx, reply, chain, NO_HEALTHY_UPSTREAM);
  }
  const method = ctx.request.method;
  const path = route.rewrite?.path ?? req.raw.url ?? '/';
  const headers = upstreamHeaders(ctx, route);
  // An ingress gateway speaks HTTP/1.1 to a port that does not declare HTTP/2 (Istio's gateways do not reuse the
  // client's protocol upstream as a sidecar's auto-detected ports do).
  const protocol = upstreamProtocol(route.backend, deps.mesh, ctx.ingress ? 'HTTP/1.1' : ctx.request.protocol);
  const body = hasBody(req) ? counted(ctx, req.raw) : null;
  // A streamed body cannot be replayed: only bodiless requests are retried.
  const attempts = body ? 1 : 1 + Math.max(0, route.retries?.attempts ?? 0);
  const deadline = route.timeoutMs ? Date.now() + route.timeoutMs : undefined;
  mirror(ctx, route, path, headers, deps, protocol);

  let lastFailure: UpstreamFailure = NO_HEALTHY_UPSTREAM;
  let attempt = 0;
  let expired = false;
  let upstream: UpstreamResponse | undefined;
  // reply-from's dispatcher (./endpoint-dispatcher) calls send() for each attempt; retryDelay below decides, after
  // each, whether another endpoint gets the next one.
  const exchange: UpstreamExchange = {
    send() {
      const ep = eps[attempt % eps.length]!;
      route.backend.endpoint = ep;
      let timeoutMs = route.retries?.perTryTimeoutMs;
      if (deadline !== undefined) {
        const left = deadline - Date.now();
        if (left <= 0) {
          expired = true;
          return Promise.reject(new Error('route timeout reached before this attempt'));
        }
        timeoutMs = timeoutMs === undefined ? left : Math.min(timeoutMs, left);
      }
      try {
        const dispatcher = deps.connector.dispatcherFor(ep, protocol);
        return dispatcher.request({ path, method, headers, body, headersTimeout: timeoutMs ?? 0, bodyTimeout: 0 }).then((res) => {
          // reply-from destroys the body of a request the client aborted meanwhile, with no listener of its own.
          res.body.on('error', ignore);
          return (upstream = res);
        });
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
  };
  const retryDelay = ({ err, res }: { err: Error | null; res?: { statusCode: number } | null }): number | null => {
    if (err) {
      if (expired) {
        lastFailure = UPSTREAM_TIMEOUT;
        return null;
      }
      const ep = eps[attempt % eps.length]!;
      const c = classify(err);
      deps.logger.debug('upstream request failed', { endpoint: `${ep.address}:${ep.port}`, error: err.message, kind: c.kind, attempt });
      lastFailure = c.kind === 'timeout' ? UPSTREAM_TIMEOUT : connectFailure(c.reason);
      if (c.kind === 'timeout' && deadline !== undefined && Date.now() >= deadline - 1) return null;
      if (!retriableError(route, c.kind)) return null;
      return ++attempt < attempts ? RETRY_AT_ONCE : null;
    }
    if (res && attempt + 1 < attempts && retriableStatus(route, res.statusCode)) {
      upstream?.body.dump().catch(() => undefined);
      lastFailure = { status: res.statusCode, body: '', flag: 'URX' };
      attempt++;
      return RETRY_AT_ONCE;
    }
    return null;
  };
  // The waypoint's own `connection: close` (draining) stays; reply-from's (request body not yet read when the
  // response arrives) does not: bodies stream both ways, the downstream connection is kept as before.
  const ownConnectionHeader = reply.hasHeader('connection');
  return new Promise<void>((resolve, reject) => {
    // reply-from neither answers nor calls back for a request the client aborted before the upstream answered.
    reply.raw.once('close', resolve);
    reply.from(UPSTREAM_URL, {
      // Only the exchange travels this way: it sends `headers` (Envoy's rules, above), not reply-from's copy.
      rewriteRequestHeaders: () => ({ [EXCHANGE]: exchange }) as unknown as Record<string, string>,
      rewriteHeaders: noHeaders,
      retryDelay,
      onResponse: () => {
        if (!ownConnectionHeader) reply.removeHeader('connection');
        finishUpstream(ctx, reply, chain, upstream!).then(resolve, reject);
      },
      onError: () => {
        ctx.responseFlags = lastFailure.flag;
        finishLocal(ctx, reply, chain, lastFailure).then(resolve, reject);
      },
    });
  });
}

/** reply-from schedules a retry after this many ms; Envoy retries at once (no backoff configured). */
const RETRY_AT_ONCE = 1;
const ignore = (): void => undefined;
/** The response headers are the chain's business (finishUpstream), not copied by reply-from. */
const noHeaders = (): Record<string, never> => ({});

export async function finishLocal(ctx: RequestContext, reply: FastifyReply, chain: PluginChain, f: UpstreamFailure): Promise<void> {
  ctx.response = { status: f.status, headers: { 'content-type': 'text/plain' } };
  ctx.applyResponseHeaderOps(ctx.response.headers);
  await chain.onResponse(ctx);
  const lr = ctx.localReply;
  if (lr) return sendLocal(reply, ctx, lr);
  send(reply, ctx, f.body);
}

async function finishUpstream(ctx: RequestContext, reply: FastifyReply, chain: PluginChain, res: UpstreamResponse): Promise<void> {
  ctx.response = { status: res.statusCode, headers: responseHeaders(res.headers) };
  ctx.applyResponseHeaderOps(ctx.response.headers);
  await chain.onResponse(ctx);
  if (ctx.localReply) {
    res.body.destroy();
    return sendLocal(reply, ctx, ctx.localReply);
  }
  const len = res.headers['content-length'];
  let bytes = 0;
  // A gRPC trailers-only response (status in its headers) goes on as headers then trailers over HTTP/2.
  const h2 = isH2(reply);
  const status = h2 && isGrpc(ctx.response.headers) ? takeGrpcStatus(ctx.response.headers) : undefined;
  reply.code(ctx.response.status).headers(ctx.response.headers);
  if (ctx.request.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) {
    res.body.dump().catch(() => undefined);
    ctx.response.bytes = 0;
    reply.send();
    return;
  }
  // The upstream's trailers are known when its body ends, before Fastify ends the response. (Over HTTP/1.1 only a
  // chunked response, one without content-length, carries trailers either way.)
  if (h2 || len === undefined) res.body.once('end', () => {
    const t = status || res.trailers ? { ...status, ...trailersOf(res.trailers) } : undefined;
    if (!t || Object.keys(t).length === 0) return;
    const raw = reply.raw as typeof reply.raw & { chunkedEncoding?: boolean };
    if (h2) {
      // Headers not sent yet (empty body) would go out with END_STREAM and leave no room for trailers.
      if (!raw.headersSent) raw.flushHeaders();
      raw.addTrailers(t);
    } else if (raw.chunkedEncoding) {
      raw.addTrailers(t);
    }
  });
  reply.send(res.body);
  if (len !== undefined) {
    ctx.response.bytes = Number(len);
  } else {
    res.body.on('data', (c: Buffer) => {
      bytes += c.length;
      ctx.response!.bytes = bytes;
    });
    ctx.response.bytes = 0;
  }
  res.body.on('error', () => {
    ctx.responseFlags = 'UPE';
  });
}

function trailersOf(t: Record<string, string | string[] | undefined> | undefined): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const k in t) {
    const v = t[k];
    if (v === undefined || NOT_TRAILERS.has(k) || k.charCodeAt(0) === 58) continue;
    (out ??= {})[k] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

function mirror(ctx: RequestContext, route: Route, path: string, headers: Record<string, string | string[]>, deps: ForwardDeps, protocol: UpstreamProtocol): void {
  if (!route.mirrors?.length) return;
  for (const m of route.mirrors) {
    if (m.percent !== undefined && Math.random() * 100 >= m.percent) continue;
    const ep = candidates(m.backend, deps.mesh)[0];
    if (!ep) continue;
    const host = String(headers.host ?? '');
    const h = { ...headers, host: host.includes(':') ? host.replace(/:/, '-shadow:') : `${host}-shadow` };
    // Fire and forget; the body is not mirrored (streamed once to the primary).
    deps.connector
      .dispatcherFor(ep, protocol)
      .request({ path, method: ctx.request.method, headers: h, body: null })
      .then((r) => r.body.dump())
      .catch((err: Error) => deps.logger.debug('mirror failed', { error: err.message }));
  }
}
