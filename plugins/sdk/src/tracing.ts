// The waypoint's span-export settings as plugins read them (token TRACING): absent means tracing is off, so trace
// headers pass through and no span is made. The runtime replaces them whenever the controller's config changes.

import type { TracingConfig } from '@ambit/mesh-api';

/**
 * An OTLP/HTTP span exporter's settings (Istio: an `opentelemetry` extensionProvider chosen by a Telemetry resource):
 * the `WaypointConfig.tracing` the controller sends, declared once in `@ambit/mesh-api`. `headers` carry
 * credentials: never log them.
 */
export type TracingSettings = TracingConfig;

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
