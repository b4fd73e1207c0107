// The waypoint's span-export settings as plugins read them (token TRACING): absent means tracing is off, so trace
// headers pass through and no span is made. The runtime replaces them whenever the controller's config changes.

/** An OTLP/HTTP span exporter's settings (Istio: an `opentelemetry` extensionProvider chosen by a Telemetry resource). */
export interface TracingSettings {
  /** The extensionProvider's name (for logs). */
  provider: string;
  /** OTLP/HTTP traces endpoint, e.g. `http://otel-collector.observability.svc.cluster.local:4318/v1/traces`. */
  endpoint: string;
  /** 0-100: the share of requests without a prior sampling decision that start a sampled trace. */
  randomSamplingPercentage: number;
  /** Export timeout in milliseconds. */
  timeoutMs?: number;
  /** Headers sent with every export (credentials: never log them). */
  headers?: Record<string, string>;
  /** Continue trace context but send no span. */
  disableSpanReporting?: boolean;
}

export interface TracingReader {
  /** The current settings; undefined: tracing off. */
  readonly current: TracingSettings | undefined;
  /** Called after every change. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** A {@link TracingReader} whose settings `replace` swaps (the runtime and the test kit use it). */
export class InMemoryTracing implements TracingReader {
  #current: TracingSettings | undefined;
  #json = 'null';
  readonly #listeners = new Set<() => void>();

  constructor(initial?: TracingSettings) {
    this.replace(initial);
  }

  get current(): TracingSettings | undefined {
    return this.#current;
  }

  /** Listeners run only when the settings differ from the current ones. */
  replace(settings: TracingSettings | undefined): void {
    const json = JSON.stringify(settings ?? null);
    if (json === this.#json) return;
    this.#json = json;
    this.#current = settings;
    for (const l of this.#listeners) l();
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
