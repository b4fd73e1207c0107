// Span export on or off, following the waypoint's TRACING settings. Off (the default) loads nothing: the
// OpenTelemetry SDK module is imported only when a provider is configured, and shut down when it goes away.

import type { Logger, TracingReader, TracingSettings } from '@ambit/plugin-sdk';
import { endpointForLog, type SpanSink } from './span-sink.js';

export { endpointForLog, type FinishedSpan, type SinkOptions, type SpanSink } from './span-sink.js';

export class Tracing {
  readonly #reader: TracingReader;
  readonly #logger: Logger;
  readonly #serviceName: string;
  #settings: TracingSettings | undefined;
  #sink: SpanSink | undefined;
  /** The export part of the settings the sink was made for (a change of sampling alone keeps the sink). */
  #sinkKey = '';
  #generation = 0;
  /** Settles when the sink for the current settings is ready (or tracing is off). */
  ready: Promise<void> = Promise.resolve();

  constructor(reader: TracingReader, logger: Logger, serviceName: string) {
    this.#reader = reader;
    this.#logger = logger;
    this.#serviceName = serviceName;
    reader.onChange(() => this.#apply());
    this.#apply();
  }

  /** The settings in force; undefined: tracing off. */
  get settings(): TracingSettings | undefined {
    return this.#settings;
  }

  /** The exporter, once loaded (undefined while it loads, when off, or when span reporting is disabled). */
  get sink(): SpanSink | undefined {
    return this.#sink;
  }

  #apply(): void {
    const s = this.#reader.current;
    this.#settings = s;
    const key = s && !s.disableSpanReporting ? JSON.stringify([s.endpoint, s.timeoutMs, s.headers]) : '';
    if (key === this.#sinkKey) return;
    this.#sinkKey = key;
    const gen = ++this.#generation;
    const old = this.#sink;
    this.#sink = undefined;
    if (old) void old.shutdown().catch(() => {});
    if (!s || !key) {
      this.ready = Promise.resolve();
      return;
    }
    this.ready = import('./span-export.js')
      .then((m) => {
        const sink = m.createSpanSink({ settings: s, serviceName: this.#serviceName, logger: this.#logger });
        if (gen === this.#generation) {
          this.#sink = sink;
          this.#logger.info('span export on', { provider: s.provider, endpoint: endpointForLog(s.endpoint), randomSamplingPercentage: s.randomSamplingPercentage });
        } else void sink.shutdown().catch(() => {});
      })
      .catch((err: Error) => {
        this.#logger.error('span export could not start', { provider: s.provider, endpoint: endpointForLog(s.endpoint), error: err.message });
      });
  }

  async shutdown(): Promise<void> {
    ++this.#generation;
    const old = this.#sink;
    this.#sink = undefined;
    await old?.shutdown();
  }
}
