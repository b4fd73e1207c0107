// The controller's metrics (served by ./monitoring.ts): mesh-api's MetricsRegistry, with the
// controller's (name, help, labelNames) call shape and its process metrics.
import { createMetricsRegistry, type Counter, type Gauge, type Histogram, type Labels, type MetricsRegistry } from '@ambit/mesh-api/metrics';

/** Scrape-time values of a gauge: `[labels, value]` pairs. */
export type Collect = () => Array<[Labels, number]>;

/** Reconcile-duration style buckets, in seconds (client-go's defaults). */
export const DEFAULT_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Registry {
  readonly metrics: MetricsRegistry = createMetricsRegistry();
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.metrics.counter({ name, help, labelNames });
  }
  /** `collect` gives the gauge's values at each scrape (a store's size). */
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: Collect): Gauge {
    return this.metrics.gauge({ name, help, labelNames, collect });
  }
  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = DEFAULT_BUCKETS_SECONDS): Histogram {
    return this.metrics.histogram({ name, help, labelNames, buckets });
  }
  /** Current value of a series (tests). */
  get(name: string, labels?: Labels): number | undefined {
    return this.metrics.get(name, labels);
  }
  render(): Promise<string> {
    return this.metrics.render();
  }
}

/** Standard process metrics (resident memory, heap, CPU seconds), refreshed on every scrape. */
export function registerProcessMetrics(reg: Registry): void {
  reg.gauge('process_resident_memory_bytes', 'Resident memory size in bytes', [], () => [[{}, process.memoryUsage().rss]]);
  reg.gauge('nodejs_heap_used_bytes', 'V8 heap in use in bytes', [], () => [[{}, process.memoryUsage().heapUsed]]);
  reg.gauge('process_cpu_seconds_total', 'User and system CPU time spent in seconds', [], () => {
    const u = process.cpuUsage();
    return [[{}, (u.user + u.system) / 1e6]];
  });
}

/** The process-wide registry the controller's parts share. */
export const registry = new Registry();
registerProcessMetrics(registry);
