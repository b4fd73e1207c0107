// ztunnel's TCP metrics: counters on mesh-api's MetricsRegistry, plus open connections' bytes read at
// scrape time, as Istio's ztunnel counts bytes as they flow.
import { identityOf, type Service, type Workload } from '@ambit/mesh-api';
import { createMetricsRegistry, type Counter, type MetricsRegistry } from '@ambit/mesh-api/metrics';

export const LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export type LabelName = (typeof LABEL_NAMES)[number];
export type TrafficLabels = Partial<Record<LabelName, string>>;

/** A connection's bytes so far, [sent, received]: read from its sockets, which count as bytes flow. */
export interface ByteCounter {
  bytes(): readonly [sent: number, received: number];
}

/** An open connection's handle: `end` folds its final bytes into the series (or into `closeLabels`' series). */
export interface TrackedConnection {
  /** `bytes` overrides what the sockets say (a connection that failed before any byte was forwarded: [0, 0]). */
  end(failed?: boolean, closeLabels?: TrafficLabels, bytes?: readonly [number, number]): readonly [sent: number, received: number];
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function renderLabels(l: TrafficLabels): string {
  return LABEL_NAMES.map((n) => `${n}="${escape(l[n] || 'unknown')}"`).join(',');
}

/** Labels describing the source side of a connection. */
export function sourceLabels(w: Workload | undefined, identity: string | undefined, clusterId: string): TrafficLabels {
  return {
    source_workload: w?.workloadName || w?.name,
    source_canonical_service: w?.canonicalName,
    source_canonical_revision: w?.canonicalRevision,
    source_workload_namespace: w?.namespace,
    source_principal: identity,
    source_app: w?.canonicalName,
    source_version: w?.canonicalRevision,
    source_cluster: w ? w.clusterId || clusterId : undefined,
  };
}

export function destinationLabels(w: Workload | undefined, svc: Service | undefined, identity: string | undefined, clusterId: string): TrafficLabels {
  return {
    destination_service: svc?.hostname,
    destination_service_namespace: svc?.namespace,
    destination_service_name: svc?.name,
    destination_workload: w?.workloadName || w?.name,
    destination_canonical_service: w?.canonicalName,
    destination_canonical_revision: w?.canonicalRevision,
    destination_workload_namespace: w?.namespace,
    destination_principal: identity ?? (w && w.protocol === 'HBONE' ? identityOf(w) : undefined),
    destination_app: w?.canonicalName,
    destination_version: w?.canonicalRevision,
    destination_cluster: w ? w.clusterId || clusterId : undefined,
  };
}

const HELP = {
  opened: ['istio_tcp_connections_opened_total', 'The total number of TCP connections opened.'],
  closed: ['istio_tcp_connections_closed_total', 'The total number of TCP connections closed.'],
  received: ['istio_tcp_received_bytes_total', 'The size of total bytes received during request in case of a TCP connection.'],
  sent: ['istio_tcp_sent_bytes_total', 'The size of total bytes sent during response in case of a TCP connection.'],
  failed: ['istio_tcp_connections_failed_total', 'The total number of TCP connections that failed to establish (unstable).'],
} as const;

/** Every label set, with an empty or missing value as "unknown" (Istio's ztunnel). */
function complete(l: TrafficLabels): Record<LabelName, string> {
  const out = {} as Record<LabelName, string>;
  for (const n of LABEL_NAMES) out[n] = l[n] || 'unknown';
  return out;
}

type Bound = { inc(value?: number): void };

/** A counter handle bound on first use: a family shows a label set only once it was updated, as before. */
class LazyBound implements Bound {
  #h: Bound | undefined = undefined;
  constructor(
    private readonly counter: Counter,
    private readonly labels: Record<LabelName, string>,
  ) {}

  inc(value = 1): void {
    (this.#h ??= this.counter.bind(this.labels)).inc(value);
  }
}

/**
 * One label set, resolved once: its completed labels and series key, bound counter handles, and its open
 * connections (their bytes are read at each scrape).
 */
interface SeriesRecord {
  key: string;
  labels: Record<LabelName, string>;
  conns: Set<ByteCounter>;
  opened: Bound;
  closed: Bound;
  sent: Bound;
  received: Bound;
  failed: Bound;
}

/** Label sets remembered (a trie on the values); past this the cache starts over. Values come from peers. */
const MAX_CACHED_SERIES = 1024;

/** One open connection: its series and its byte counter (no closures per connection). */
class Tracked implements TrackedConnection {
  constructor(
    private readonly metrics: Metrics,
    private readonly series: SeriesRecord,
    private readonly counter: ByteCounter,
  ) {}

  end(failed = false, closeLabels?: TrafficLabels, final?: readonly [number, number]): readonly [number, number] {
    return this.metrics.endTracked(this.series, this.counter, failed, closeLabels, final);
  }
}

export class Metrics {
  readonly registry: MetricsRegistry;
  readonly #c: Record<keyof typeof HELP, Counter>;
  /** Open connections by label set: their bytes are read at each scrape, so a long-lived connection's bytes show as they flow. */
  readonly #live = new Map<string, SeriesRecord>();
  /**
   * Label values -> record, one Map level per label: a connection of a known label set allocates no key, no
   * completed copy, no label strings (the per-connection garbage that otherwise dominates a burst of connections).
   */
  readonly #cache = new Map<string, unknown>();
  #cached = 0;

  constructor(registry: MetricsRegistry = createMetricsRegistry()) {
    this.registry = registry;
    const counter = (k: keyof typeof HELP, collect?: () => Iterable<readonly [Record<LabelName, string>, number]>) =>
      registry.counter({ name: HELP[k][0], help: HELP[k][1], labelNames: LABEL_NAMES, collect });
    // What open connections have moved so far, added to their series' closed connections' bytes at each scrape.
    const liveBytes = (i: 0 | 1) => () =>
      [...this.#live.values()].map(({ labels, conns }) => {
        let n = 0;
        for (const b of conns) n += b.bytes()[i];
        return [labels, n] as const;
      });
    this.#c = { opened: counter('opened'), closed: counter('closed'), received: counter('received', liveBytes(1)), sent: counter('sent', liveBytes(0)), failed: counter('failed') };
  }

  /** The record of `labels`' label set (an empty or missing value is "unknown"). */
  #record(labels: TrafficLabels): SeriesRecord {
    let node = this.#cache;
    const last = LABEL_NAMES.length - 1;
    for (let i = 0; i < last; i++) {
      const v = labels[LABEL_NAMES[i]!] || 'unknown';
      let next = node.get(v) as Map<string, unknown> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    }
    const v = labels[LABEL_NAMES[last]!] || 'unknown';
    const hit = node.get(v) as SeriesRecord | undefined;
    if (hit) return hit;
    if (++this.#cached > MAX_CACHED_SERIES) {
      this.#cache.clear();
      this.#cached = 0;
      return this.#record(labels);
    }
    const l = complete(labels);
    const key = renderLabels(l);
    // An open connection's record outlives a cache reset: the same label set keeps one record.
    const c = this.#c;
    const rec = this.#live.get(key) ?? { key, labels: l, conns: new Set(), opened: new LazyBound(c.opened, l), closed: new LazyBound(c.closed, l), sent: new LazyBound(c.sent, l), received: new LazyBound(c.received, l), failed: new LazyBound(c.failed, l) };
    node.set(v, rec);
    return rec;
  }

  /** A connection that failed before any byte was forwarded: opened and closed at once, counted as failed. */
  failed(labels: TrafficLabels): void {
    const r = this.#record(labels);
    r.opened.inc();
    this.close(r, 0, 0, true);
  }

  /**
   * Counts a connection opened and reads its bytes live until it ends, as Istio's ztunnel counts bytes as they flow
   * (a scrape reads `bytes()`; nothing is done per chunk on the data path).
   */
  track(labels: TrafficLabels, bytes: ByteCounter): TrackedConnection {
    const r = this.#record(labels);
    r.opened.inc();
    r.closed.inc(0);
    // A held connection keeps only its series' shared record, not a label set and key of its own.
    if (r.conns.size === 0) this.#live.set(r.key, r);
    r.conns.add(bytes);
    return new Tracked(this, r, bytes);
  }

  /** @internal Tracked.end: the connection leaves its live series and its bytes count as closed. */
  endTracked(r: SeriesRecord, bytes: ByteCounter, failed: boolean, closeLabels: TrafficLabels | undefined, final: readonly [number, number] | undefined): readonly [number, number] {
    r.conns.delete(bytes);
    if (r.conns.size === 0 && this.#live.get(r.key) === r) this.#live.delete(r.key);
    const [sent, received] = final ?? bytes.bytes();
    this.close(closeLabels ? this.#record(closeLabels) : r, sent, received, failed);
    return [sent, received];
  }

  private close(r: SeriesRecord, sent: number, received: number, failed: boolean): void {
    r.opened.inc(0); // every family shows each label set, as Istio's does
    r.closed.inc();
    r.sent.inc(sent);
    r.received.inc(received);
    if (failed) r.failed.inc();
  }

  /** Prometheus text exposition (version 0.0.4). */
  render(): Promise<string> {
    return this.registry.render();
  }
}
