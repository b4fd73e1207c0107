// Telemetry (STATS phase): Istio's standard HTTP metrics with reporter="waypoint" ("source" on an ingress gateway,
// as Istio's gateways), an Envoy-format access-log line per request, and tracing: `x-request-id` kept or
// generated; with tracing on, W3C and B3 trace context continued with the waypoint's own span (or a new trace
// started) and one server span exported per sampled request; with tracing off (the default), valid trace headers pass through untouched.

import { randomFillSync, randomUUID } from 'node:crypto';
import {
  ACCESS_LOG,
  CLOCK,
  DEFAULT_BUCKETS_BYTES,
  DEFAULT_BUCKETS_MS,
  inject,
  injectable,
  LOGGER,
  METRICS,
  TRACING,
  WAYPOINT,
  workloadLabels,
  type AccessLogSink,
  type Clock,
  type Counter,
  type Histogram,
  type Logger,
  type MetricsRegistry,
  type Plugin,
  type RequestContext,
  type TracingReader,
  type WaypointIdentity,
  type WorkloadView,
} from '@ambit/plugin-sdk';
import { B3_HEADERS, continueTrace, dropMalformed, readTrace, writeTrace, type OutgoingTrace } from './trace-context.js';
import { Tracing } from './tracing.js';

export const LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

const START = Symbol('ambit.telemetry.start');
/** The request's sampled span, to export in onLog. */
const SPAN = Symbol('ambit.telemetry.span');
const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', ...B3_HEADERS];

// Random ids from a refilled pool: one getrandom call per 512 ids instead of one per id.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function hex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const s = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return s;
}

/** `new Date(ms).toISOString()`, with the part up to the seconds computed once per second. */
let isoSecond = NaN;
let isoPrefix = '';
function isoTime(time: number): string {
  const ms = Math.trunc(time); // as Date does
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    const full = new Date(ms).toISOString();
    // Outside years 0000-9999 the format differs (+/-YYYYYY): no caching there.
    if (full.length !== 24) return full;
    isoSecond = sec;
    isoPrefix = full.slice(0, 20);
  }
  const r = ms - sec * 1000;
  return `${isoPrefix}${r < 10 ? '00' : r < 100 ? '0' : ''}${r}Z`;
}

interface Bound {
  requests: { inc(v?: number): void };
  duration: { observe(v: number): void };
  reqBytes: { observe(v: number): void };
  resBytes: { observe(v: number): void };
}

function workloadOf(w: WorkloadView | undefined) {
  if (!w) return undefined;
  const labels = workloadLabels(w);
  return {
    workload: w.workloadName ?? w.name,
    namespace: w.namespace,
    principal: `spiffe://${w.trustDomain ?? 'cluster.local'}/ns/${w.namespace}/sa/${w.serviceAccount}`,
    app: labels.app,
    version: labels.version,
    canonicalService: w.canonicalName ?? labels.app ?? w.workloadName ?? w.name,
    canonicalRevision: w.canonicalRevision ?? labels.version ?? 'latest',
    cluster: w.clusterId ?? 'Kubernetes',
  };
}

@injectable()
export class TelemetryPlugin implements Plugin {
  readonly name = 'istio.stats';
  readonly phase = 'STATS' as const;
  readonly priority = 0;
  readonly #requests: Counter;
  readonly #duration: Histogram;
  readonly #reqBytes: Histogram;
  readonly #resBytes: Histogram;
  /** Label sets seen, keyed by what they derive from (bounded; cleared when full). */
  readonly #bound = new Map<string, Bound>();
  /** Span export, following the waypoint's TRACING settings (off: nothing loaded). */
  readonly tracing: Tracing;

  constructor(
    @inject(METRICS) metrics: MetricsRegistry,
    @inject(ACCESS_LOG) private readonly accessLog: AccessLogSink,
    @inject(CLOCK) private readonly clock: Clock,
    @inject(WAYPOINT) private readonly waypoint: WaypointIdentity,
    @inject(TRACING) tracing: TracingReader,
    @inject(LOGGER) logger: Logger,
  ) {
    // Istio names a proxy's spans' service after its canonical service and namespace: a waypoint's is its Gateway.
    this.tracing = new Tracing(tracing, logger.child('tracing'), `${waypoint.name}.${waypoint.namespace}`);
    this.#requests = metrics.counter({ name: 'istio_requests_total', help: 'Total requests handled by an Istio proxy', labelNames: LABELS });
    this.#duration = metrics.histogram({ name: 'istio_request_duration_milliseconds', help: 'Request duration', labelNames: LABELS, buckets: DEFAULT_BUCKETS_MS });
    this.#reqBytes = metrics.histogram({ name: 'istio_request_bytes', help: 'Request size', labelNames: LABELS, buckets: DEFAULT_BUCKETS_BYTES });
    this.#resBytes = metrics.histogram({ name: 'istio_response_bytes', help: 'Response size', labelNames: LABELS, buckets: DEFAULT_BUCKETS_BYTES });
  }

  onRequest(ctx: RequestContext): void {
    ctx.state.set(START, this.clock.monotonic());
    let id = ctx.header('x-request-id');
    if (!id) {
      id = randomUUID();
      ctx.setRequestHeader('x-request-id', id);
    }
    ctx.id = id;
    const h = ctx.request.headers;
    const settings = this.tracing.settings;
    if (!settings) {
      // Off: as Envoy without a tracer, no span and no new trace; only a malformed header is kept from going on.
      if (TRACE_HEADERS.some((n) => h[n] !== undefined)) dropMalformed(h, readTrace(h));
      return;
    }
    const incoming = readTrace(h);
    const pct = settings.randomSamplingPercentage;
    const out = continueTrace(incoming, { traceId: () => hex(16), spanId: () => hex(8) }, () => pct >= 100 || (pct > 0 && Math.random() * 100 < pct));
    writeTrace(h, out, incoming.singleB3);
    if (out.sampled && !settings.disableSpanReporting) ctx.state.set(SPAN, out);
  }

  /** One server span with Envoy's tags as Istio users find them in their tracing backend. */
  #exportSpan(ctx: RequestContext, span: OutgoingTrace): void {
    const sink = this.tracing.sink;
    if (!sink) return;
    const svc = ctx.route?.backend.service ?? ctx.destination.service;
    const status = ctx.response?.status ?? 0;
    const r = ctx.request;
    const attributes: Record<string, string | number | boolean> = {
      'http.method': r.method,
      'http.url': `${r.scheme}://${r.authority}${r.path}${r.rawQuery ? '?' + r.rawQuery : ''}`,
      'http.protocol': r.protocol,
      'http.status_code': status,
      'response_flags': ctx.responseFlags,
      'request_size': ctx.requestBytes,
      'response_size': ctx.response?.bytes ?? 0,
      'guid:x-request-id': ctx.id,
      'node_id': `waypoint~${this.waypoint.namespace}~${this.waypoint.name}`,
      'component': 'proxy',
      'istio.namespace': this.waypoint.namespace,
      'istio.canonical_service': this.waypoint.name,
      'peer.address': ctx.source.address,
    };
    const ua = ctx.header('user-agent');
    if (ua) attributes.user_agent = ua;
    if (ctx.source.principal) attributes['source.principal'] = ctx.source.principal;
    if (svc) {
      attributes.upstream_cluster = `outbound|${svc.port}||${svc.hostname}`;
      attributes['upstream_cluster.name'] = attributes.upstream_cluster;
      attributes['destination.service'] = svc.hostname;
    }
    const ep = ctx.route?.backend.endpoint;
    if (ep) attributes['upstream.address'] = `${ep.address}:${ep.port}`;
    const error = status === 0 || status >= 500;
    if (error) attributes.error = true;
    sink.record({
      name: svc ? `${svc.hostname}:${svc.port}/*` : `${ctx.destination.originalAuthority}/*`,
      traceId: span.traceId,
      spanId: span.spanId,
      ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
      startTime: ctx.startTime,
      endTime: Math.max(ctx.startTime, this.clock.now()),
      attributes,
      error,
    });
  }

  labels(ctx: RequestContext): Record<(typeof LABELS)[number], string | undefined> {
    const dstW = ctx.route?.backend.endpoint?.workload ?? ctx.destination.workload;
    const dst = workloadOf(dstW);
    const svc = ctx.route?.backend.service ?? ctx.destination.service;
    // An ingress gateway reports as Istio's gateways do: reporter "source", the gateway itself the source (its
    // clients are outside the mesh), the connection's security unknown to a source reporter.
    const gateway = ctx.ingress !== undefined;
    const self = this.waypoint.workload ?? this.waypoint.name;
    const src = gateway
      ? { workload: self, namespace: this.waypoint.namespace, app: undefined, version: undefined, canonicalService: self, canonicalRevision: 'latest', cluster: undefined }
      : workloadOf(ctx.source.workload);
    return {
      reporter: gateway ? 'source' : 'waypoint',
      source_workload: src?.workload,
      source_workload_namespace: src?.namespace ?? ctx.source.namespace,
      source_principal: gateway ? this.waypoint.spiffeId : ctx.source.principal,
      source_app: src?.app,
      source_version: src?.version,
      source_canonical_service: src?.canonicalService,
      source_canonical_revision: src?.canonicalRevision,
      source_cluster: src?.cluster,
      destination_workload: dst?.workload,
      destination_workload_namespace: dst?.namespace,
      destination_principal: ctx.route?.backend.endpoint?.identity ?? dst?.principal,
      destination_app: dst?.app,
      destination_version: dst?.version,
      destination_service: svc?.hostname ?? ctx.destination.originalAuthority,
      destination_service_name: svc?.name,
      destination_service_namespace: svc?.namespace,
      destination_canonical_service: dst?.canonicalService,
      destination_canonical_revision: dst?.canonicalRevision,
      destination_cluster: dst?.cluster,
      request_protocol: 'http',
      response_code: String(ctx.response?.status ?? 0),
      grpc_response_status: '',
      response_flags: ctx.responseFlags,
      connection_security_policy: !gateway && ctx.source.principal ? 'mutual_tls' : 'unknown',
    };
  }

  #series(ctx: RequestContext): Bound {
    const ep = ctx.route?.backend.endpoint;
    const svc = ctx.route?.backend.service ?? ctx.destination.service;
    const key = `${ctx.source.workload?.uid ?? ''}|${ctx.source.principal ?? ''}|${ctx.source.namespace ?? ''}|${(ep?.workload ?? ctx.destination.workload)?.uid ?? ''}|${ep?.identity ?? ''}|${svc?.hostname ?? ctx.destination.originalAuthority}|${ctx.response?.status ?? 0}|${ctx.responseFlags}`;
    let b = this.#bound.get(key);
    if (!b) {
      if (this.#bound.size > 10_000) this.#bound.clear();
      const labels = this.labels(ctx);
      b = { requests: this.#requests.bind(labels), duration: this.#duration.bind(labels), reqBytes: this.#reqBytes.bind(labels), resBytes: this.#resBytes.bind(labels) };
      this.#bound.set(key, b);
    }
    return b;
  }

  onLog(ctx: RequestContext): void {
    const b = this.#series(ctx);
    const start = ctx.state.get(START) as number | undefined;
    const duration = start === undefined ? 0 : this.clock.monotonic() - start;
    b.requests.inc();
    b.duration.observe(duration);
    b.reqBytes.observe(ctx.requestBytes);
    b.resBytes.observe(ctx.response?.bytes ?? 0);
    this.accessLog.write(this.accessLine(ctx, Math.round(duration)));
    const span = ctx.state.get(SPAN) as OutgoingTrace | undefined;
    if (span) this.#exportSpan(ctx, span);
  }

  /** Envoy/Istio's default text access-log format. */
  accessLine(ctx: RequestContext, durationMs: number): string {
    // One template literal (not an array join) and a cached timestamp prefix: this runs for every request.
    const ep = ctx.route?.backend.endpoint;
    const svc = ctx.route?.backend.service;
    const cluster = svc ? `outbound|${svc.port}||${svc.hostname}` : '-';
    const by = ctx.localReply?.by;
    const details = ctx.localReply ? (by === 'rbac' ? 'rbac_access_denied_matched_policy[none]' : by ?? 'local_reply') : ctx.response?.status ? 'via_upstream' : '-';
    const r = ctx.request;
    return (
      `[${isoTime(ctx.startTime)}] "${r.method} ${r.path}${r.rawQuery ? '?' + r.rawQuery : ''} ${r.protocol}" ` +
      `${ctx.response?.status ?? 0} ${ctx.responseFlags} ${details} - "-" ${ctx.requestBytes} ${ctx.response?.bytes ?? 0} ${durationMs} - ` +
      `"${ctx.header('x-forwarded-for') ?? '-'}" "${ctx.header('user-agent') ?? '-'}" "${ctx.id ?? '-'}" "${r.authority ?? '-'}" ` +
      `"${ep ? `${ep.address}:${ep.port}` : '-'}" ${cluster} - ${ctx.destination.originalAuthority || '-'} ${ctx.source.address}:${ctx.source.port} - ` +
      `${ctx.route?.name ?? 'default'} src.identity="${ctx.source.principal ?? '-'}" waypoint=${this.waypoint.namespace}/${this.waypoint.name}`
    );
  }
}
