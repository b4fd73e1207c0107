// One refresh of the dashboard: run the queries against Prometheus and answer what the page shows, a graph or a
// state that says what is wrong and what to check (never an empty canvas without a reason).
import { buildGraph, type Graph } from './graph.js';
import { layoutGraph, type Layout } from './layout.js';
import { instantQuery, PrometheusError, type PrometheusTransport } from './prometheus.js';
import { graphQueries } from './queries.js';

export type SnapshotState = 'ok' | 'no-traffic' | 'no-metrics' | 'prometheus-unreachable' | 'prometheus-error';

export interface Snapshot {
  state: SnapshotState;
  /** For every state but ok: one sentence for the user, and the commands to check. */
  message?: string;
  hints?: string[];
  graph: Graph & { layout: Layout };
  window: string;
  /** Where Prometheus is read from, as the user named it. */
  prometheus: string;
  /** ISO time of the query. */
  time: string;
}

export interface SnapshotOptions {
  transport: PrometheusTransport;
  prometheus: string;
  window: string;
  maxEdges?: number;
  now?: () => Date;
}

const CHECK_PROMETHEUS = ['kubectl -n istio-system get pods -l app=prometheus', 'ambit install --addons prometheus'];

export async function takeSnapshot(o: SnapshotOptions): Promise<Snapshot> {
  const q = graphQueries(o.window, o.maxEdges);
  const time = (o.now ?? (() => new Date()))().toISOString();
  const empty = (state: SnapshotState, message: string, hints: string[]): Snapshot => ({
    state,
    message,
    hints,
    graph: { nodes: [], edges: [], totalEdges: 0, layout: { width: 0, height: 0, positions: {} } },
    window: o.window,
    prometheus: o.prometheus,
    time,
  });
  try {
    const [requests, p99In, p99Out, tcpBytes, tcpConnections] = await Promise.all([
      instantQuery(o.transport, q.requests),
      instantQuery(o.transport, q.p99In),
      instantQuery(o.transport, q.p99Out),
      instantQuery(o.transport, q.tcpBytes),
      instantQuery(o.transport, q.tcpConnections),
    ]);
    const graph = buildGraph({ requests, p99In, p99Out, tcpBytes, tcpConnections }, { maxEdges: o.maxEdges });
    if (graph.edges.length > 0) return { state: 'ok', graph: { ...graph, layout: layoutGraph(graph) }, window: o.window, prometheus: o.prometheus, time };
    const present = await instantQuery(o.transport, q.present);
    if (present.length === 0)
      return empty('no-metrics', `Prometheus (${o.prometheus}) answers but holds none of Istio's metrics: it is not scraping the ztunnels and waypoints yet.`, [
        'kubectl -n istio-system get pods -l app=prometheus',
        'ambit install --addons prometheus',
        'kubectl get namespace -L istio.io/dataplane-mode   # the workloads must be in the mesh',
      ]);
    return empty('no-traffic', `No traffic in the mesh in the last ${o.window}: send some requests and the graph appears within a scrape interval.`, [
      'kubectl exec deploy/sleep -- curl -s http://productpage:9080/productpage',
    ]);
  } catch (err) {
    if (err instanceof PrometheusError && err.kind === 'unreachable') return empty('prometheus-unreachable', `Prometheus is down or unreachable: ${err.message}`, CHECK_PROMETHEUS);
    const msg = err instanceof Error ? err.message : String(err);
    return empty('prometheus-error', `Prometheus could not answer the dashboard's queries: ${msg}`, CHECK_PROMETHEUS);
  }
}
