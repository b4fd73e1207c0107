// Telemetry (STATS phase): Istio's standard HTTP metrics with reporter="waypoint", an Envoy-format access-log
// line per request, and trace context: `x-request-id` kept or generated, W3C `traceparent` continued with a new
// span id (or started).

import { randomFillSync, randomUUID } from 'node:crypto';
import {
  ACCESS_LOG,
  CLOCK,
  DEFAULT_BUCKETS_BYTES,
  DEFAULT_BUCKETS_MS,
  inject,
  injectable,
  METRICS,
  WAYPOINT,
  workloadLabels,
  type AccessLogSink,
  type Clock,
  type Counter,
  type Histogram,
  type MetricsRegistry,
  type Plugin,
  type RequestContext,
  type WaypointIdentity,
  type WorkloadView,
} from '@ambit/plugin-sdk';

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
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

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

  constructor(
    @inject(METRICS) metrics: MetricsRegistry,
    @inject(ACCESS_LOG) private readonly accessLog: AccessLogSink,
    @inject(CLOCK) private readonly clock: Clock,
    @inject(WAYPOINT) private readonly waypoint: WaypointIdentity,
  ) {
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
    const tp = ctx.header('traceparent');
    const m = tp ? TRACEPARENT.exec(tp) : null;
    if (m && m[2] !== '0'.repeat(32)) ctx.setRequestHeader('traceparent', `00-${m[2]}-${hex(8)}-${m[4]}`);
    else ctx.setRequestHeader('traceparent', `00-${hex(16)}-${hex(8)}-01`);
  }

  labels(ctx: RequestContext): Record<(typeof LABELS)[number], string | undefined> {
    const src = workloadOf(ctx.source.workload);
    const dstW = ctx.route?.backend.endpoint?.workload ?? ctx.destination.workload;
    const dst = workloadOf(dstW);
    const svc = ctx.route?.backend.service ?? ctx.destination.service;
    return {
      reporter: 'waypoint',
      source_workload: src?.workload,
      source_workload_namespace: src?.namespace ?? ctx.source.namespace,
      source_principal: ctx.source.principal,
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
      connection_security_policy: ctx.source.principal ? 'mutual_tls' : 'unknown',
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
