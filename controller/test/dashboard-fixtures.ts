// A fake Prometheus on loopback for the dashboard's tests: answers /api/v1/query from canned vectors chosen by what
// the query asks for, the way the real one would for a Bookinfo mesh with waypoints on productpage and reviews.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Vector = Array<{ metric: Record<string, string>; value: number | string }>;
export interface Canned {
  requests?: Vector;
  p99In?: Vector;
  p99Out?: Vector;
  tcpBytes?: Vector;
  tcpConnections?: Vector;
  present?: Vector;
}

/** Which canned vector a query is for. */
export function whichQuery(q: string): keyof Canned {
  if (q.startsWith('count(')) return 'present';
  if (q.includes('istio_requests_total')) return 'requests';
  if (q.includes('histogram_quantile')) return q.includes('sum by (source_workload,') ? 'p99In' : 'p99Out';
  if (q.includes('istio_tcp_sent_bytes_total')) return 'tcpBytes';
  return 'tcpConnections';
}

export interface FakePrometheus {
  url: string;
  queries: string[];
  canned: Canned;
  /** Instead of the API: a status and body for every request. */
  broken?: { status: number; body: string };
  close(): Promise<void>;
}

export async function startFakePrometheus(canned: Canned): Promise<FakePrometheus> {
  const fake: FakePrometheus = { url: '', queries: [], canned, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (fake.broken) {
      res.writeHead(fake.broken.status, { 'content-type': 'text/html' });
      return res.end(fake.broken.body);
    }
    if (u.pathname !== '/api/v1/query') {
      res.writeHead(404);
      return res.end('404 page not found\n');
    }
    const q = u.searchParams.get('query') ?? '';
    fake.queries.push(q);
    const v = fake.canned[whichQuery(q)] ?? [];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: v.map((s) => ({ metric: s.metric, value: [1765000000, String(s.value)] })) } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return fake;
}

const NS = 'default';
const host = (svc: string) => `${svc}.${NS}.svc.cluster.local`;
const id = (sa: string) => `spiffe://cluster.local/ns/${NS}/sa/${sa}`;

/** Labels of one hop as Ambit's ztunnel and waypoints emit them. */
export function hop(src: { w: string; v?: string }, svc: string | undefined, dst: { w: string; v?: string } | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    source_workload: src.w,
    source_workload_namespace: NS,
    source_version: src.v ?? 'unknown',
    source_principal: id(src.w),
    destination_service: svc ? host(svc) : 'unknown',
    destination_workload: dst?.w ?? 'unknown',
    destination_workload_namespace: dst ? NS : 'unknown',
    destination_version: dst?.v ?? 'unknown',
    connection_security_policy: 'mutual_tls',
    ...extra,
  };
}

const waypointTarget = (gw: string) => ({
  namespace: NS,
  pod: `${gw}-istio-waypoint-5d8c7b9f4-x2k9p`,
  gateway_networking_k8s_io_gateway_name: gw,
  service_istio_io_canonical_name: `${gw}-istio-waypoint`,
});

const pp = { w: 'productpage-v1', v: 'v1' };
const details = { w: 'details-v1', v: 'v1' };
const reviews = [1, 2, 3].map((n) => ({ w: `reviews-v${n}`, v: `v${n}` }));
const ratings = { w: 'ratings-v1', v: 'v1' };
const sleep = { w: 'sleep' };

/**
 * Bookinfo in ambient mode with two service-account waypoints (productpage's and reviews'), as after the walkthrough:
 * sleep -> productpage and productpage -> reviews are HTTP (reported by the waypoints), productpage -> details and
 * reviews v2/v3 -> ratings are L4 only (ztunnel), every hop mTLS. reviews-v3 answers 10% 503s, productpage 5% 403s.
 */
export function bookinfo(): Canned {
  const wpPP = waypointTarget('bookinfo-productpage');
  const wpRv = waypointTarget('bookinfo-reviews');
  const requests: Vector = [
    { metric: { reporter: 'waypoint', ...hop(sleep, 'productpage', pp), response_code: '200', ...wpPP }, value: 1.9 },
    { metric: { reporter: 'waypoint', ...hop(sleep, 'productpage', pp), response_code: '403', ...wpPP }, value: 0.1 },
    { metric: { reporter: 'waypoint', ...hop(pp, 'reviews', reviews[0]), response_code: '200', ...wpRv }, value: 0.7 },
    { metric: { reporter: 'waypoint', ...hop(pp, 'reviews', reviews[1]), response_code: '200', ...wpRv }, value: 0.6 },
    { metric: { reporter: 'waypoint', ...hop(pp, 'reviews', reviews[2]), response_code: '200', ...wpRv }, value: 0.6 },
    { metric: { reporter: 'waypoint', ...hop(pp, 'reviews', reviews[2]), response_code: '503', ...wpRv }, value: 0.1 },
  ];
  const tcp = (bytes: number): Vector => [
    // ztunnel's own hops to and from the waypoints: the transport of the requests above.
    { metric: { reporter: 'source', ...hop(sleep, 'productpage', { w: 'bookinfo-productpage-istio-waypoint', v: 'latest' }) }, value: bytes },
    { metric: { reporter: 'destination', ...hop({ w: 'bookinfo-productpage-istio-waypoint', v: 'latest' }, 'productpage', pp) }, value: bytes },
    { metric: { reporter: 'destination', ...hop(pp, 'reviews', { w: 'bookinfo-reviews-istio-waypoint', v: 'latest' }) }, value: bytes },
    // L4 only: both ztunnels report it; counted once.
    { metric: { reporter: 'destination', ...hop(pp, 'details', details) }, value: bytes },
    { metric: { reporter: 'source', ...hop(pp, 'details', details), connection_security_policy: 'unknown' }, value: bytes },
    { metric: { reporter: 'destination', ...hop(reviews[1], 'ratings', ratings) }, value: bytes / 2 },
    { metric: { reporter: 'destination', ...hop(reviews[2], 'ratings', ratings) }, value: bytes / 2 },
  ];
  return {
    requests,
    p99In: [
      { metric: { source_workload: 'sleep', source_workload_namespace: NS, destination_service: host('productpage') }, value: 48.5 },
      { metric: { source_workload: 'productpage-v1', source_workload_namespace: NS, destination_service: host('reviews') }, value: 24.75 },
    ],
    p99Out: [
      { metric: { destination_service: host('productpage'), destination_workload: 'productpage-v1', destination_workload_namespace: NS }, value: 48.5 },
      { metric: { destination_service: host('reviews'), destination_workload: 'reviews-v3', destination_workload_namespace: NS }, value: 31 },
      { metric: { destination_service: host('reviews'), destination_workload: 'reviews-v1', destination_workload_namespace: NS }, value: 'NaN' },
    ],
    tcpBytes: tcp(2400),
    tcpConnections: tcp(0.5),
    present: [{ metric: {}, value: 42 }],
  };
}
