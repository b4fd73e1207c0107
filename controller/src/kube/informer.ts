// Informer: list + watch one resource type into an in-memory store and tell handlers about changes.
// Relists on 410 Gone (expired resourceVersion), re-watches from the last seen resourceVersion when a watch ends,
// backs off on errors, and replays every object as an update on each resync period.
import { Backoff } from '@ambit/mesh-api';
import { KubeClient, KubeError, type WatchEvent } from './client.js';
import { nullLogger, type Logger } from '@ambit/mesh-api';
import { registry as defaultRegistry, type Registry } from './metrics.js';
import { keyOf, type KubeObject, type ResourceType } from './resources.js';

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Replay all objects as updates this often (0 = never). */
  resyncMs?: number;
  log?: Logger;
  registry?: Registry;
  /** Drop fields nobody reads (managedFields by default) to keep memory small. */
  transform?: (obj: KubeObject) => KubeObject;
  /** The server-side watch timeout (default 240-360 s, randomized so informers do not re-watch in step). */
  watchTimeoutSeconds?: number;
}

/** How long past its server-side timeout a watch may stay open before it is presumed dead (at most 30 s). */
export const watchDeadlineMs = (timeoutSeconds: number): number => timeoutSeconds * 1000 + Math.min(30_000, timeoutSeconds * 500);

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (oldObj: T, newObj: T) => void;
  delete?: (obj: T) => void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

const stripManagedFields = (obj: KubeObject): KubeObject => {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
};

export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion: string | undefined;
  private abort = new AbortController();
  private syncedResolve!: () => void;
  private loop?: Promise<void>;
  private resyncTimer?: NodeJS.Timeout;
  readonly synced: Promise<void>;
  hasSynced = false;
  /** Number of full relists done (the first list included). */
  relists = 0;
  private lastRelist = 0;
  private readonly log: Logger;
  private readonly events;

  constructor(
    private readonly client: KubeClient,
    readonly rt: ResourceType,
    private readonly opts: InformerOptions = {},
  ) {
    this.synced = new Promise((r) => (this.syncedResolve = r));
    this.log = (opts.log ?? nullLogger).child('informer', { resource: rt.plural });
    this.events = (opts.registry ?? defaultRegistry).counter('informer_events_total', 'Watch events received by informers, by resource and type', ['resource', 'type']);
  }

  on(handlers: InformerHandlers<T>): this {
    this.handlers.push(handlers);
    return this;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(filter?: (obj: T) => boolean): T[] {
    const out: T[] = [];
    for (const o of this.store.values()) if (!filter || filter(o)) out.push(o);
    return out;
  }

  inNamespace(ns: string): T[] {
    return this.list((o) => o.metadata.namespace === ns);
  }

  get size(): number {
    return this.store.size;
  }

  /** Starts list+watch in the background; resolves once the first list is in the store. */
  async start(): Promise<void> {
    if (!this.loop) {
      this.loop = this.run();
      if (this.opts.resyncMs) {
        this.resyncTimer = setInterval(() => {
          for (const o of this.store.values()) this.emit('update', o, o);
        }, this.opts.resyncMs);
        this.resyncTimer.unref();
      }
    }
    await this.synced;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.loop;
  }

  private emit(kind: 'add' | 'update' | 'delete', a: T, b?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.add?.(a);
        else if (kind === 'update') h.update?.(a, b!);
        else h.delete?.(a);
      } catch (err) {
        this.log.error('handler failed', { err });
      }
    }
  }

  private transform(o: T): T {
    return (this.opts.transform ?? stripManagedFields)(o) as T;
  }

  private async relist(): Promise<void> {
    const list = await this.client.listAll<T>(this.rt, this.opts.namespace, { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector });
    this.relists++;
    this.lastRelist = Date.now();
    const seen = new Set<string>();
    for (const raw of list.items) {
      const o = this.transform(raw);
      const k = keyOf(o);
      seen.add(k);
      const old = this.store.get(k);
      this.store.set(k, o);
      if (!old) this.emit('add', o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', old, o);
    }
    for (const [k, o] of this.store) {
      if (!seen.has(k)) {
        this.store.delete(k);
        this.emit('delete', o);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion;
    this.log.debug('listed', { count: list.items.length, resourceVersion: this.resourceVersion });
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.syncedResolve();
    }
  }

  private onEvent(ev: WatchEvent<T>): void {
    this.events.inc({ resource: this.rt.plural, type: ev.type });
    if (ev.type === 'ERROR') {
      const st = ev.object as unknown as { code?: number; message?: string; reason?: string };
      throw new KubeError(st.message ?? 'watch error', st.code ?? 500, st.reason ?? '');
    }
    const o = this.transform(ev.object);
    if (o.metadata?.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    const k = keyOf(o);
    const old = this.store.get(k);
    if (ev.type === 'DELETED') {
      this.store.delete(k);
      this.emit('delete', old ?? o);
    } else {
      this.store.set(k, o);
      if (old) this.emit('update', old, o);
      else this.emit('add', o);
    }
  }

  private async run(): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120);
        await this.client.watch<T>(
          this.rt,
          this.opts.namespace,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          (ev) => this.onEvent(ev),
          signal,
          watchDeadlineMs(timeoutSeconds),
        );
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeError && err.gone) {
          this.log.info('resourceVersion expired, relisting', { resourceVersion: this.resourceVersion });
          this.resourceVersion = undefined;
          // A 410 right after a relist again means something is wrong: back off instead of spinning.
          if (Date.now() - this.lastRelist < 1000) {
            await sleep(backoff.next(), signal);
          }
          continue;
        }
        const retryMs = backoff.next();
        this.log.warn('list/watch failed, retrying', { err, retryMs });
        await sleep(retryMs, signal);
      }
    }
  }
}
