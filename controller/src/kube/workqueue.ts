// A work queue of string keys in the manner of client-go's: a key waits in the queue at most once (dedup), a key
// being processed that is added again is processed once more afterwards (never concurrently), failures are retried
// with per-key exponential backoff, and the queue reports its depth, adds and retries as metrics.
import { backoffDelay } from '@ambit/mesh-api';
import { nullLogger, type Logger } from '@ambit/mesh-api';
import { registry as defaultRegistry, type Registry } from './metrics.js';

export interface WorkQueueOptions {
  name: string;
  /** Parallel workers (distinct keys only). */
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  registry?: Registry;
  log?: Logger;
}

export type Reconciler = (key: string) => Promise<void>;

export class WorkQueue {
  private queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private waiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private shuttingDown = false;
  private workers: Promise<void>[] = [];
  readonly name: string;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly log: Logger;
  private readonly m;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.log = (opts.log ?? nullLogger).child('workqueue', { queue: opts.name });
    const reg = opts.registry ?? defaultRegistry;
    this.m = {
      depth: reg.gauge('workqueue_depth', 'Keys waiting in the work queue', ['name']),
      adds: reg.counter('workqueue_adds_total', 'Keys added to the work queue', ['name']),
      retries: reg.counter('workqueue_retries_total', 'Keys re-added after a failure', ['name']),
      reconciles: reg.counter('reconciles_total', 'Reconciles run, by controller and result', ['controller', 'result']),
      errors: reg.counter('reconcile_errors_total', 'Reconciles that failed, by controller', ['controller']),
      duration: reg.histogram('reconcile_duration_seconds', 'Time spent in one reconcile, by controller', ['controller']),
    };
    this.concurrency = opts.concurrency ?? 4;
  }

  private readonly concurrency: number;

  get length(): number {
    return this.queue.length - this.head;
  }

  private setDepth(): void {
    this.m.depth.set({ name: this.name }, this.length);
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.m.adds.inc({ name: this.name });
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.setDepth();
    this.waiters.shift()?.();
  }

  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    if (this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /** Re-adds a failed key after base * 2^(failures-1), capped at the maximum delay. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffDelay(n - 1, { initialMs: this.baseDelayMs, maxMs: this.maxDelayMs });
    this.m.retries.inc({ name: this.name });
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  private async next(): Promise<string | undefined> {
    while (this.length === 0) {
      if (this.shuttingDown) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const key = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.setDepth();
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.setDepth();
      this.waiters.shift()?.();
    }
    if (this.length === 0 && this.processing.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      w.forEach((r) => r());
    }
  }

  /** Starts the workers. A reconciler that throws gets its key retried with backoff. */
  run(reconcile: Reconciler, controller = this.name): void {
    for (let i = 0; i < this.concurrency; i++) {
      this.workers.push(
        (async () => {
          for (;;) {
            const key = await this.next();
            if (key === undefined) return;
            const start = performance.now();
            try {
              await reconcile(key);
              this.forget(key);
              this.m.reconciles.inc({ controller, result: 'success' });
            } catch (err) {
              this.m.reconciles.inc({ controller, result: 'error' });
              this.m.errors.inc({ controller });
              if (!this.shuttingDown) {
                const delay = this.addRateLimited(key);
                this.log.warn('reconcile failed, will retry', { key, err, retryMs: delay, attempt: this.numRequeues(key) });
              }
            } finally {
              this.m.duration.observe({ controller }, (performance.now() - start) / 1000);
              this.done(key);
            }
          }
        })(),
      );
    }
  }

  /** Resolves when nothing is queued or being processed (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.length === 0 && this.processing.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.waiters.splice(0).forEach((r) => r());
    await Promise.all(this.workers);
  }
}
