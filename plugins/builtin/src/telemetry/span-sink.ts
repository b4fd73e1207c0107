// What the telemetry plugin hands the span exporter (loaded only when tracing is on), in a module of its own so
// that the exporter does not import the module that loads it.
import type { Logger, TracingSettings } from '@ambit/plugin-sdk';

/** One finished server span, as the telemetry plugin describes it. */
export interface FinishedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** Epoch milliseconds. */
  startTime: number;
  endTime: number;
  attributes: Record<string, string | number | boolean>;
  /** OpenTelemetry status ERROR (a 5xx, or no response at all). */
  error: boolean;
}

export interface SpanSink {
  /** Queues the span for export; never blocks and never throws. */
  record(span: FinishedSpan): void;
  shutdown(): Promise<void>;
}

export interface SinkOptions {
  settings: TracingSettings;
  /** Resource `service.name`. */
  serviceName: string;
  logger: Logger;
}

/** The endpoint as logs may show it: without credentials in its user-info part. */
export function endpointForLog(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
