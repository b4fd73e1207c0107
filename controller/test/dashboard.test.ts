// `ambit dashboard` without a browser: the graph built from a fake Prometheus on loopback (Bookinfo with
// waypoints), the states the page shows when Prometheus is down, empty or broken, the bound on edges, the layout,
// the local server and the command line.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from '../src/cli/run.js';
import { buildGraph, waypointOf, type Graph, type GraphEdge } from '../src/dashboard/graph.js';
import { layoutGraph } from '../src/dashboard/layout.js';
import { instantQuery, serviceProxyTransport, urlTransport } from '../src/dashboard/prometheus.js';
import { graphQueries } from '../src/dashboard/queries.js';
import { startDashboardServer } from '../src/dashboard/server.js';
import { takeSnapshot, type Snapshot } from '../src/dashboard/snapshot.js';
import { KubeClient } from '../src/kube/client.js';
import { bookinfo, hop, startFakePrometheus, type Canned } from './dashboard-fixtures.js';

async function snapshotFrom(canned: Canned, maxEdges?: number): Promise<Snapshot> {
  const prom = await startFakePrometheus(canned);
  try {
    return await takeSnapshot({ transport: urlTransport(prom.url), prometheus: prom.url, window: '1m', maxEdges });
  } finally {
    await prom.close();
  }
}

const edge = (g: Graph, source: string, target: string): GraphEdge | undefined => g.edges.find((e) => e.source === source && e.target === target);
const W = (name: string) => `workload:default/${name}`;
const S = (name: string) => `service:${name}.default.svc.cluster.local`;

test('Bookinfo from Prometheus: workloads with versions, services, waypoints, and the edges between them', async (t) => {
  const s = await snapshotFrom(bookinfo());
  t.is(s.state, 'ok');
  const g = s.graph;
  const workloads = g.nodes.filter((n) => n.kind === 'workload').map((n) => `${n.name}@${n.version ?? ''}`);
  t.deepEqual(workloads.sort(), ['details-v1@v1', 'productpage-v1@v1', 'ratings-v1@v1', 'reviews-v1@v1', 'reviews-v2@v2', 'reviews-v3@v3', 'sleep@']);
  t.deepEqual(g.nodes.filter((n) => n.kind === 'service').map((n) => n.name).sort(), ['details', 'productpage', 'ratings', 'reviews']);
  // The waypoints' own workloads are not drawn as workloads: they are the hop, drawn as waypoints.
  t.deepEqual(
    g.nodes.filter((n) => n.kind === 'waypoint').map((n) => `${n.namespace}/${n.name} serves ${n.serves!.join(',')}`),
    [`default/bookinfo-productpage serves ${S('productpage')}`, `default/bookinfo-reviews serves ${S('reviews')}`],
  );
  t.false(g.nodes.some((n) => n.name.endsWith('-istio-waypoint')));

  const intoPP = edge(g, W('sleep'), S('productpage'))!;
  t.is(intoPP.protocol, 'http');
  t.is(intoPP.rps, 2);
  t.is(intoPP.clientErrorRate, 0.05);
  t.is(intoPP.errorRate, 0);
  t.is(intoPP.p99Ms, 48.5);
  t.true(intoPP.mtls);
  t.is(intoPP.waypoint, 'waypoint:default/bookinfo-productpage');

  const intoReviews = edge(g, W('productpage-v1'), S('reviews'))!;
  t.is(intoReviews.waypoint, 'waypoint:default/bookinfo-reviews');
  t.is(Number(intoReviews.rps.toFixed(6)), 2);
  t.is(Number(intoReviews.errorRate.toFixed(6)), 0.05);
  t.is(intoReviews.p99Ms, 24.75);
  const toV3 = edge(g, S('reviews'), W('reviews-v3'))!;
  t.is(Number(toV3.rps.toFixed(6)), 0.7);
  t.is(Number(toV3.errorRate.toFixed(6)), Number((0.1 / 0.7).toFixed(6)));
  t.is(toV3.p99Ms, 31);
  t.is(edge(g, S('reviews'), W('reviews-v1'))!.p99Ms, undefined, 'a NaN quantile (no requests in a bucket) is no figure');
  for (const v of ['reviews-v1', 'reviews-v2', 'reviews-v3']) t.truthy(edge(g, S('reviews'), W(v)), v);

  // L4 only: productpage -> details and reviews -> ratings, from ztunnel; both ztunnels' reports count once.
  const toDetails = edge(g, W('productpage-v1'), S('details'))!;
  t.is(toDetails.protocol, 'tcp');
  t.is(toDetails.bytesPerSecond, 2400);
  t.is(toDetails.connectionsPerSecond, 0.5);
  t.true(toDetails.mtls, "the destination ztunnel's mutual_tls is the hop's state");
  t.is(edge(g, S('details'), W('details-v1'))!.protocol, 'tcp');
  t.truthy(edge(g, W('reviews-v2'), S('ratings')));
  t.truthy(edge(g, W('reviews-v3'), S('ratings')));
  t.truthy(edge(g, S('ratings'), W('ratings-v1')));
  t.is(edge(g, S('ratings'), W('ratings-v1'))!.bytesPerSecond, 2400);
  t.is(g.edges.length, 11);
  t.is(g.totalEdges, 11);
});

test('a waypoint is named by its Gateway, else by its pod or Deployment, when Prometheus keeps fewer target labels', (t) => {
  t.deepEqual(waypointOf({ namespace: 'bi', gateway_networking_k8s_io_gateway_name: 'waypoint', pod: 'waypoint-7f9c6d5b8-abcde' }), { name: 'waypoint', namespace: 'bi' });
  t.deepEqual(waypointOf({ namespace: 'bi', pod: 'bookinfo-reviews-istio-waypoint-7f9c6d5b8-abcde' }), { name: 'bookinfo-reviews', namespace: 'bi' });
  t.deepEqual(waypointOf({ service_istio_io_canonical_name: 'waypoint', destination_service_namespace: 'bi' }), { name: 'waypoint', namespace: 'bi' });
  t.deepEqual(waypointOf({}), { name: 'waypoint', namespace: 'unknown' });
});

test('the layout reads Bookinfo left to right by call depth, the same every time', async (t) => {
  const s = await snapshotFrom(bookinfo());
  const p = s.graph.layout.positions;
  const col = (id: string) => p[id].layer;
  t.is(col(W('sleep')), 0);
  t.true(col(W('productpage-v1')) < col(S('reviews')));
  t.true(col(S('reviews')) < col(W('reviews-v2')));
  t.true(col(W('reviews-v2')) < col(S('ratings')));
  t.true(col(S('ratings')) < col(W('ratings-v1')));
  t.is(col(W('reviews-v1')), col(W('reviews-v3')));
  // Distinct places for every node.
  const spots = Object.entries(p).map(([, v]) => `${v.x},${v.y}`);
  t.is(new Set(spots).size, spots.length);
  t.deepEqual(layoutGraph(s.graph), s.graph.layout);
  t.true(s.graph.layout.width > 0 && s.graph.layout.height > 0);
});

test('a cycle in the calls still lays out every node', (t) => {
  const mk = (a: string, b: string): GraphEdge => ({ id: `${a}->${b}`, source: a, target: b, protocol: 'http', rps: 1, errorRate: 0, clientErrorRate: 0, bytesPerSecond: 0, connectionsPerSecond: 0, mtlsShare: 1, mtls: true });
  const nodes = ['a', 'b', 'c'].map((id) => ({ id, kind: 'workload' as const, name: id, namespace: 'x' }));
  const l = layoutGraph({ nodes, edges: [mk('a', 'b'), mk('b', 'c'), mk('c', 'a')] });
  t.deepEqual(Object.keys(l.positions).sort(), ['a', 'b', 'c']);
  t.deepEqual(['a', 'b', 'c'].map((id) => l.positions[id].layer), [0, 1, 2]);
});

test('each hop counts once when both ends report it, and mTLS is partial when some traffic is plaintext', (t) => {
  const m = hop({ w: 'a' }, 'b', { w: 'b-v1' });
  const g = buildGraph({
    requests: [
      { metric: { reporter: 'source', ...m, response_code: '200' }, value: 3 },
      { metric: { reporter: 'destination', ...m, response_code: '200' }, value: 3 },
      { metric: { reporter: 'destination', ...m, response_code: '200', connection_security_policy: 'none' }, value: 1 },
    ],
    p99In: [],
    p99Out: [],
    tcpBytes: [],
    tcpConnections: [],
  });
  const e = g.edges.find((x) => x.target === 'service:b.default.svc.cluster.local')!;
  t.is(e.rps, 4);
  t.is(e.mtlsShare, 0.75);
  t.false(e.mtls);
});

test('a series explosion is bounded: the busiest edges are kept, the queries ask for topk', async (t) => {
  const many = Array.from({ length: 3000 }, (_, i) => ({ metric: { reporter: 'waypoint', ...hop({ w: `client-${i}` }, 'api', { w: 'api-v1' }), response_code: '200' }, value: i + 1 }));
  const s = await snapshotFrom({ ...bookinfo(), requests: many, tcpBytes: [], tcpConnections: [] }, 10);
  t.is(s.state, 'ok');
  t.is(s.graph.edges.length, 10);
  t.true(s.graph.totalEdges > 2000);
  t.true(s.graph.edges.some((e) => e.source === W('client-2999')), 'the busiest client is drawn');
  t.false(s.graph.edges.some((e) => e.source === W('client-0')));
  t.is(s.graph.nodes.filter((n) => n.kind !== 'waypoint').length, 11, 'only the nodes of the edges drawn');
  for (const q of Object.values(graphQueries('1m', 10)).slice(0, 5)) t.regex(q, /^topk\(200, /);
  // Samples beyond the cap are not read at all.
  const capped = buildGraph({ requests: many, p99In: [], p99Out: [], tcpBytes: [], tcpConnections: [] }, { maxSamples: 5 });
  t.is(capped.totalEdges, 6);
});

test('Prometheus down: a state saying so and what to check, not an empty graph without a reason', async (t) => {
  const prom = await startFakePrometheus({});
  const url = prom.url;
  await prom.close();
  const s = await takeSnapshot({ transport: urlTransport(url), prometheus: url, window: '1m' });
  t.is(s.state, 'prometheus-unreachable');
  t.regex(s.message!, /Prometheus is down or unreachable: cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  t.deepEqual(s.hints, ['kubectl -n istio-system get pods -l app=prometheus', 'ambit install --addons prometheus']);
  t.deepEqual(s.graph.edges, []);
});

test('something that is not Prometheus, or a Prometheus error: a state naming it', async (t) => {
  const prom = await startFakePrometheus(bookinfo());
  try {
    prom.broken = { status: 502, body: '<html>Bad Gateway</html>' };
    let s = await takeSnapshot({ transport: urlTransport(prom.url), prometheus: prom.url, window: '1m' });
    t.is(s.state, 'prometheus-error');
    t.regex(s.message!, /not Prometheus' JSON API/);
    prom.broken = { status: 400, body: JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 3' }) };
    s = await takeSnapshot({ transport: urlTransport(prom.url), prometheus: prom.url, window: '1m' });
    t.is(s.state, 'prometheus-error');
    t.regex(s.message!, /Prometheus refused the query: parse error at char 3/);
  } finally {
    await prom.close();
  }
});

test('no Istio metrics at all, and metrics without recent traffic, are told apart', async (t) => {
  let s = await snapshotFrom({});
  t.is(s.state, 'no-metrics');
  t.regex(s.message!, /holds none of Istio's metrics/);
  t.true(s.hints!.includes('ambit install --addons prometheus'));
  const idle = bookinfo();
  for (const k of ['requests', 'tcpBytes', 'tcpConnections'] as const) idle[k] = idle[k]!.map((x) => ({ ...x, value: 0 }));
  s = await snapshotFrom(idle);
  t.is(s.state, 'no-traffic');
  t.regex(s.message!, /No traffic in the mesh in the last 1m/);
});

test('through the API server: the service proxy path, and a Service without endpoints is "unreachable"', async (t) => {
  const seen: string[] = [];
  let answer: { code: number; body: unknown } = { code: 200, body: { status: 'success', data: { resultType: 'vector', result: [{ metric: { a: 'b' }, value: [1, '2'] }] } } };
  const api = http.createServer((req, res) => {
    seen.push(`${req.headers.authorization} ${req.url}`);
    res.writeHead(answer.code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const client = new KubeClient({ server: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, namespace: 'default', source: 'test', token: () => 'tok' });
  try {
    const transport = serviceProxyTransport(client, 'istio-system', 'prometheus', 9090);
    t.deepEqual(await instantQuery(transport, 'up'), [{ metric: { a: 'b' }, value: 2 }]);
    t.is(seen[0], 'Bearer tok /api/v1/namespaces/istio-system/services/http:prometheus:9090/proxy/api/v1/query?query=up');
    answer = { code: 503, body: { kind: 'Status', status: 'Failure', message: 'no endpoints available for service "http:prometheus:9090"', reason: 'ServiceUnavailable', code: 503 } };
    const s = await takeSnapshot({ transport, prometheus: 'istio-system/prometheus:9090', window: '1m' });
    t.is(s.state, 'prometheus-unreachable');
    t.regex(s.message!, /Service istio-system\/prometheus:9090 .* does not answer: no endpoints available/);
    answer = { code: 404, body: { kind: 'Status', status: 'Failure', message: 'services "prometheus" not found', reason: 'NotFound', code: 404 } };
    t.regex((await takeSnapshot({ transport, prometheus: 'p', window: '1m' })).message!, /Service istio-system\/prometheus:9090 .* does not exist/);
  } finally {
    client.close();
    await new Promise((r) => api.close(r));
  }
});

async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; type: string; csp: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), csp: String(res.headers['content-security-policy']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the local server: the page and its script from itself only, the graph as JSON, only for its own host name', async (t) => {
  const prom = await startFakePrometheus(bookinfo());
  let calls = 0;
  const server = await startDashboardServer({
    address: '127.0.0.1',
    port: 0,
    snapshot: () => (calls++, takeSnapshot({ transport: urlTransport(prom.url), prometheus: prom.url, window: '1m' })),
  });
  try {
    const page = await get(server.url);
    t.is(page.status, 200);
    t.is(page.type, 'text/html; charset=utf-8');
    t.regex(page.body, /<script src="\/app.js"><\/script>/);
    t.notRegex(page.body, /(src|href)="(https?:)?\/\//, 'nothing is fetched from elsewhere');
    t.regex(page.csp, /default-src 'none'; script-src 'self'/);
    const js = await get(`${server.url}app.js`);
    t.is(js.status, 200);
    t.notRegex(js.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const graph = await get(`${server.url}api/graph`);
    t.is(graph.status, 200);
    const body = JSON.parse(graph.body) as Snapshot;
    t.is(body.state, 'ok');
    t.true(body.graph.nodes.some((n) => n.name === 'ratings-v1'));
    await get(`${server.url}api/graph`);
    t.is(calls, 1, 'a second load within a second shares the answer');
    t.is((await get(server.url, { host: 'attacker.example:80' })).status, 421);
    t.is((await get(server.url, { host: `localhost:${server.port}` })).status, 200);
    t.is((await get(`${server.url}api/graph`, {}, 'POST')).status, 405);
    t.is((await get(`${server.url}nope`)).status, 404);
  } finally {
    await server.close();
    await prom.close();
  }
});

async function cli(args: string[], stop?: (url: string) => Promise<void>) {
  let out = '';
  let err = '';
  let release!: () => void;
  const stopped = new Promise<void>((r) => (release = r));
  const watch = setInterval(() => {
    const m = /(http:\/\/[^ ]+\/) /.exec(out);
    if (m) {
      clearInterval(watch);
      void (stop ? stop(m[1]) : Promise.resolve()).finally(release);
    }
  }, 20);
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s), env: { HOME: '/nonexistent' }, stopped });
  clearInterval(watch);
  return { code, out, err };
}

test('ambit dashboard prints one line with the URL and serves the graph there', async (t) => {
  const prom = await startFakePrometheus(bookinfo());
  let state = '';
  try {
    const r = await cli(['dashboard', '--no-browser', '--port', '0', '--prometheus-url', prom.url], async (url) => {
      state = (JSON.parse((await get(`${url}api/graph`)).body) as Snapshot).state;
    });
    t.is(r.code, 0, r.err);
    t.regex(r.out, /^ambit dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(Prometheus: http:\/\/127\.0\.0\.1:\d+; Ctrl-C to stop\)\n$/);
    t.is(state, 'ok');
  } finally {
    await prom.close();
  }
});

test('ambit dashboard refuses bad flags with a message naming the flag', async (t) => {
  let r = await cli(['dashboard', '--no-browser', '--address', '0.0.0.0', '--prometheus-url', 'http://127.0.0.1:9090']);
  t.is(r.code, 1);
  t.regex(r.err, /^Error: --address "0\.0\.0\.0" is not a loopback address/);
  r = await cli(['dashboard', '--no-browser', '--window', 'soon', '--prometheus-url', 'http://127.0.0.1:9090']);
  t.regex(r.err, /--window "soon" is not a Prometheus duration/);
  r = await cli(['dashboard', '--no-browser', '--port', '99999', '--prometheus-url', 'http://127.0.0.1:9090']);
  t.regex(r.err, /--port "99999" is not a port number/);
  r = await cli(['dashboard', '--no-browser', '--port', '0', '--prometheus-url', 'ftp://x']);
  t.regex(r.err, /--prometheus-url "ftp:\/\/x" must be an http:\/\/ or https:\/\/ URL/);
  r = await cli(['dashboard', '--no-browser', '--port', '0']);
  t.is(r.code, 1);
  t.regex(r.err, /kubeconfig|KUBECONFIG|cluster/i, 'without --prometheus-url the cluster is needed, and its absence is named');
});

test("an L4 hop both ztunnels report is one path: the destination side's unknown service joins the source side's", (t) => {
  const sleep = { w: 'sleep' };
  const pp = { w: 'productpage-v1', v: 'v1' };
  const g = buildGraph({
    requests: [],
    p99In: [],
    p99Out: [],
    tcpBytes: [
      { metric: { reporter: 'source', ...hop(sleep, 'productpage', pp) }, value: 100 },
      { metric: { reporter: 'destination', ...hop(sleep, undefined, pp) }, value: 120 },
    ],
    tcpConnections: [
      { metric: { reporter: 'source', ...hop(sleep, 'productpage', pp) }, value: 1 },
      { metric: { reporter: 'destination', ...hop(sleep, undefined, pp) }, value: 1 },
    ],
  });
  t.deepEqual(g.edges.map((e) => `${e.source} -> ${e.target}`).sort(), [
    'service:productpage.default.svc.cluster.local -> workload:default/productpage-v1',
    'workload:default/sleep -> service:productpage.default.svc.cluster.local',
  ]);
  t.is(g.edges[0]!.bytesPerSecond, 120, 'the destination reporter is preferred, as for any L4 hop');
});
