// ztunnel's TCP metrics (Prometheus text), hand-written counters keyed by their label set.
import { identityOf, type Service, type Workload } from '@ambit/mesh-api';

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
export type ByteCounter = () => readonly [sent: number, received: number];

interface Series {
  labels: string;
  opened: number;
  closed: number;
  failed: number;
  sent: number;
  received: number;
  /** Open connections: their bytes are read at each scrape, so a long-lived connection's bytes show as they flow. */
  live?: Set<ByteCounter>;
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

export class Metrics {
  private readonly series = new Map<string, Series>();

  /** A handle for one connection's label set. */
  series_(labels: TrafficLabels): Series {
    const key = renderLabels(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: key, opened: 0, closed: 0, failed: 0, sent: 0, received: 0 }));
    return s;
  }

  /** A connection that failed before any byte was forwarded: opened and closed at once, counted as failed. */
  failed(labels: TrafficLabels): void {
    const s = this.series_(labels);
    s.opened++;
    this.close(s, 0, 0, true);
  }

  /**
   * Counts a connection opened and reads its bytes live until it ends, as Istio's ztunnel counts bytes as they flow
   * (a scrape reads `bytes()`; nothing is done per chunk on the data path).
   */
  track(labels: TrafficLabels, bytes: ByteCounter): TrackedConnection {
    const s = this.series_(labels);
    s.opened++;
    (s.live ??= new Set()).add(bytes);
    return {
      end: (failed = false, closeLabels?: TrafficLabels, final?: readonly [number, number]) => {
        s.live!.delete(bytes);
        const [sent, received] = final ?? bytes();
        this.close(closeLabels ? this.series_(closeLabels) : s, sent, received, failed);
        return [sent, received];
      },
    };
  }

  private close(s: Series, sent: number, received: number, failed: boolean): void {
    s.closed++;
    s.sent += sent;
    s.received += received;
    if (failed) s.failed++;
  }

  /** [sent, received] of a series: its closed connections' bytes plus what its open ones have moved so far. */
  private bytes(s: Series): readonly [number, number] {
    let sent = s.sent;
    let received = s.received;
    for (const b of s.live ?? []) {
      const [ls, lr] = b();
      sent += ls;
      received += lr;
    }
    return [sent, received];
  }

  /** Prometheus text exposition (version 0.0.4). */
  render(): string {
    const out: string[] = [];
    // Each open connection's sockets are read once per scrape, for both byte families.
    const bytes = new Map([...this.series.values()].map((s) => [s, this.bytes(s)] as const));
    const family = (name: string, help: string, pick: (s: Series) => number, skipZero = false) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const s of this.series.values()) {
        const v = pick(s);
        if (skipZero && v === 0) continue;
        out.push(`${name}{${s.labels}} ${v}`);
      }
    };
    family('istio_tcp_connections_opened_total', 'The total number of TCP connections opened.', (s) => s.opened);
    family('istio_tcp_connections_closed_total', 'The total number of TCP connections closed.', (s) => s.closed);
    family('istio_tcp_received_bytes_total', 'The size of total bytes received during request in case of a TCP connection.', (s) => bytes.get(s)![1]);
    family('istio_tcp_sent_bytes_total', 'The size of total bytes sent during response in case of a TCP connection.', (s) => bytes.get(s)![0]);
    family('istio_tcp_connections_failed_total', 'The total number of TCP connections that failed to establish (unstable).', (s) => s.failed, true);
    return out.join('\n') + '\n';
  }
}
