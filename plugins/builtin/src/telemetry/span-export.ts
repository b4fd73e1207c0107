// The OpenTelemetry SDK side of span export, imported only when tracing is configured: finished spans go through
// a bounded batch queue to an OTLP/HTTP exporter. An unreachable collector costs dropped spans and one log line
// per outage, never a blocked or failed request.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { endpointForLog, type FinishedSpan, type SinkOptions, type SpanSink } from './span-sink.js';

/** Spans waiting for export at most; more are dropped (Envoy's OpenTelemetry tracer bounds its buffer too). */
export const MAX_QUEUE = 2048;
const MAX_BATCH = 512;
const FLUSH_MS = 1000;

/** Hands the tracer the ids the waypoint already wrote into the request's headers. */
class PresetIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId = (): string => this.traceId;
  generateSpanId = (): string => this.spanId;
}

/** Logs the first failure of an outage (naming the endpoint) and the recovery; never the headers. */
class LoggingExporter implements SpanExporter {
  #failing = false;
  constructor(
    private readonly inner: SpanExporter,
    private readonly opts: SinkOptions,
  ) {}

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      const fields = { provider: this.opts.settings.provider, endpoint: endpointForLog(this.opts.settings.endpoint) };
      if (r.code !== ExportResultCode.SUCCESS && !this.#failing) {
        this.#failing = true;
        this.opts.logger.warn('span export failed; spans are dropped until the collector answers', { ...fields, error: r.error?.message ?? 'unknown error' });
      } else if (r.code === ExportResultCode.SUCCESS && this.#failing) {
        this.#failing = false;
        this.opts.logger.info('span export recovered', fields);
      }
      done(r);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export function createSpanSink(opts: SinkOptions): SpanSink {
  const s = opts.settings;
  const exporter = new OTLPTraceExporter({ url: s.endpoint, headers: { ...(s.headers ?? {}) }, timeoutMillis: s.timeoutMs ?? 10_000 });
  const ids = new PresetIds();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    sampler: new AlwaysOnSampler(),
    idGenerator: ids,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new LoggingExporter(exporter, opts),
        maxQueueSize: MAX_QUEUE,
        maxExportBatchSize: MAX_BATCH,
        scheduledDelayMillis: FLUSH_MS,
        exportTimeoutMillis: s.timeoutMs ?? 10_000,
      }),
    ],
  });
  const tracer = provider.getTracer('ambit-waypoint');
  return {
    record(span: FinishedSpan): void {
      try {
        ids.traceId = span.traceId;
        ids.spanId = span.spanId;
        const parent = span.parentSpanId
          ? trace.setSpanContext(ROOT_CONTEXT, { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true })
          : ROOT_CONTEXT;
        const otel = tracer.startSpan(span.name, { kind: SpanKind.SERVER, startTime: span.startTime, attributes: span.attributes }, parent);
        if (span.error) otel.setStatus({ code: SpanStatusCode.ERROR });
        otel.end(span.endTime);
      } catch (err) {
        opts.logger.debug('span dropped', { error: (err as Error).message });
      }
    },
    shutdown: () => provider.shutdown(),
  };
}
