// The PromQL the dashboard asks, over Istio's standard metrics, each bounded by topk so a label explosion on the
// Prometheus side costs the page a fixed number of series.
import { DEFAULT_MAX_EDGES } from './graph.js';

const EDGE = 'reporter, source_workload, source_workload_namespace, source_version, destination_service, destination_workload, destination_workload_namespace, destination_version, connection_security_policy';
/** The scrape target's labels that name a waypoint (Istio's Prometheus maps pod labels and adds namespace and pod). */
const REPORTER = 'namespace, pod, gateway_networking_k8s_io_gateway_name, service_istio_io_canonical_name, destination_service_namespace';

/** A Prometheus duration: 30s, 1m, 5m, 1h. */
export const WINDOW = /^[1-9][0-9]*(ms|s|m|h|d)$/;

export interface GraphQueries {
  requests: string;
  p99In: string;
  p99Out: string;
  tcpBytes: string;
  tcpConnections: string;
  /** Whether Prometheus holds any of Istio's metrics at all. */
  present: string;
}

export function graphQueries(window: string, maxEdges = DEFAULT_MAX_EDGES): GraphQueries {
  if (!WINDOW.test(window)) throw new Error(`window "${window}" is not a Prometheus duration (e.g. 30s, 1m, 5m)`);
  // Several series make one edge (response codes, waypoint replicas, mTLS states): room for that, still bounded.
  const k = Math.max(50, maxEdges * 20);
  return {
    requests: `topk(${k}, sum by (${EDGE}, response_code, ${REPORTER}) (rate(istio_requests_total[${window}])))`,
    p99In: `topk(${k}, histogram_quantile(0.99, sum by (source_workload, source_workload_namespace, destination_service, le) (rate(istio_request_duration_milliseconds_bucket[${window}]))))`,
    p99Out: `topk(${k}, histogram_quantile(0.99, sum by (destination_service, destination_workload, destination_workload_namespace, le) (rate(istio_request_duration_milliseconds_bucket[${window}]))))`,
    tcpBytes: `topk(${k}, sum by (${EDGE}) (rate(istio_tcp_sent_bytes_total[${window}])))`,
    tcpConnections: `topk(${k}, sum by (${EDGE}) (rate(istio_tcp_connections_opened_total[${window}])))`,
    present: 'count(istio_requests_total) or count(istio_tcp_connections_opened_total)',
  };
}
