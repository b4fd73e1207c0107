// `ambit dashboard` on the local cluster: Bookinfo in the mesh with a waypoint for reviews, traffic from sleep, the
// Prometheus add-on scraping ztunnels and waypoints; the dashboard (reaching Prometheus through the API server's
// service proxy, as a user's would) draws productpage, details, reviews v1/v2/v3 and ratings with edges between
// them in real headless Chromium, and a screenshot is kept under .ambit/test-output/dashboard/.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { openMeshCluster, waitFor, type TestCluster } from '@ambit/cluster';

const run = promisify(execFile);
const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const outDir = join(repo, '.ambit', 'test-output', 'dashboard');
const NS = 'dashboard-it';
let mesh: TestCluster | undefined;
let dashboard: ChildProcess | undefined;
const sh = (command: string) => mesh!.sh(command);

/** Debian's headless Chromium with a throw-away profile. */
async function chromium(args: string[]): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'ambit-chromium-'));
  try {
    const bin = process.env.CHROMIUM ?? 'chromium';
    const { stdout } = await run(bin, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', ...args], {
      timeout: 90_000,
      maxBuffer: 32 * 1024 * 1024,
    });
    return stdout;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

interface GraphAnswer {
  state: string;
  message?: string;
  graph: { nodes: Array<{ id: string; kind: string; name: string; version?: string }>; edges: Array<{ source: string; target: string; waypoint?: string }>; layout: { width: number; height: number } };
}

test.before(async () => {
  mesh = await openMeshCluster({ addons: ['prometheus'], namespaces: [NS] });
});

test.after.always(async () => {
  dashboard?.kill('SIGTERM');
  await mesh?.close();
});

test.serial('ambit dashboard draws the Bookinfo graph from the real Prometheus, in Chromium', async (t) => {
  await sh(`kubectl create namespace ${NS} && kubectl label namespace ${NS} istio.io/dataplane-mode=ambient`);
  await sh(`kubectl apply -n ${NS} -f samples/manifests/bookinfo.yaml -f samples/manifests/sleep.yaml`);
  await sh(`kubectl wait --for=condition=Ready pods --all -n ${NS} --timeout=240s`);
  await sh(`ambit waypoint apply -n ${NS} --service-account bookinfo-reviews --wait`);

  // The dashboard as a user runs it: no --prometheus-url, so through the API server to istio-system/prometheus:9090.
  dashboard = spawn('ambit', ['dashboard', '--no-browser', '--port', '0'], { env: mesh!.shell.env, cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  dashboard.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  dashboard.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = await waitFor('the dashboard prints its URL', async () => /(http:\/\/127\.0\.0\.1:\d+\/) /.exec(out)?.[1], 30_000, 200);
  t.regex(out, /^ambit dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(Prometheus: istio-system\/prometheus:9090 via .*\/api\/v1\/namespaces\/istio-system\/services\/http:prometheus:9090\/proxy\/; Ctrl-C to stop\)\n$/, err);

  // Traffic until Prometheus has scraped it and the graph holds every Bookinfo hop. Each node's ztunnel is scraped on
  // its own schedule, so for a scrape interval one side of a hop may be known before the other: wait for the whole
  // graph, as a user watching the page would.
  const wanted = ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'];
  const W = (n: string) => `workload:${NS}/${n}`;
  const S = (n: string) => `service:${n}.${NS}.svc.cluster.local`;
  const hops: Array<[string, string]> = [
    [W('sleep'), S('productpage')],
    [S('productpage'), W('productpage-v1')],
    [W('productpage-v1'), S('details')],
    [S('details'), W('details-v1')],
    [W('productpage-v1'), S('reviews')],
    ...['reviews-v1', 'reviews-v2', 'reviews-v3'].map((v): [string, string] => [S('reviews'), W(v)]),
    [S('ratings'), W('ratings-v1')],
  ];
  /** What the answer still lacks: workloads, hops, the reviews waypoint as the hop to reviews. */
  const missing = (a: GraphAnswer): string[] => {
    const names = new Set(a.graph.nodes.filter((n) => n.kind === 'workload').map((n) => n.name));
    const has = (s: string, d: string) => a.graph.edges.some((e) => e.source === s && e.target === d);
    return [
      ...(a.state === 'ok' ? [] : [`state ${a.state}`]),
      ...wanted.filter((w) => !names.has(w)).map((w) => `workload ${w}`),
      ...hops.filter(([s, d]) => !has(s, d)).map(([s, d]) => `edge ${s} -> ${d}`),
      ...(a.graph.edges.find((e) => e.target === S('reviews'))?.waypoint === `waypoint:${NS}/bookinfo-reviews` ? [] : ['the reviews waypoint as the hop to reviews']),
    ];
  };
  let last: GraphAnswer | undefined;
  const graph = await waitFor(
    'the Bookinfo graph in /api/graph',
    async () => {
      await mesh!.shell.run(`kubectl exec -n ${NS} deploy/sleep -- sh -c 'for i in $(seq 1 20); do curl -s -o /dev/null http://productpage:9080/productpage; done'`, { timeoutMs: 60_000 });
      last = (await (await fetch(`${url}api/graph`)).json()) as GraphAnswer;
      return missing(last).length === 0 ? last : undefined;
    },
    300_000,
    5000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; still missing: ${last ? missing(last).join('; ') : 'no answer'}; last answer: ${JSON.stringify(last)?.slice(0, 2000)}`);
  });
  t.log(`edges:\n${graph.graph.edges.map((e) => `${e.source} -> ${e.target}${e.waypoint ? ` via ${e.waypoint}` : ''}`).join('\n')}`);
  t.deepEqual(missing(graph), []);
  // Once both sides are scraped, ztunnel's destination-side figures join the source side's hop: no hop drawn twice.
  t.false(graph.graph.edges.some((e) => e.source === W('productpage-v1') && e.target === W('details-v1')), 'productpage -> details is drawn once, through its service');
  t.deepEqual(
    ['reviews-v1', 'reviews-v2', 'reviews-v3'].map((v) => graph.graph.nodes.find((n) => n.id === W(v))?.version),
    ['v1', 'v2', 'v3'],
  );

  // The page, drawn by Chromium.
  const dom = await chromium(['--dump-dom', url]);
  t.regex(dom, /<body data-state="ok"/);
  for (const w of wanted) t.true(dom.includes(`data-name="${w}"`) && dom.includes(`>${w}</text>`), w);
  t.true(dom.includes(`data-source="${W('productpage-v1')}" data-target="${S('reviews')}"`));
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, 'cluster-bookinfo.png');
  await chromium([`--window-size=${graph.graph.layout.width + 60},${graph.graph.layout.height + 130}`, `--screenshot=${file}`, url]);
  t.log(`screenshot: ${file}`);
});
