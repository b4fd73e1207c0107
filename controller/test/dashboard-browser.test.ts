// `ambit dashboard` in real headless Chromium: the Bookinfo graph from a fake Prometheus on loopback is drawn
// (nodes, versions, edges, padlocks, waypoints) and photographed; with Prometheus down the page says so.
import test from 'ava';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/run.js';
import type { Snapshot } from '../src/dashboard/snapshot.js';
import { dumpDom, findChromium, screenshot } from '../src/dashboard/chromium.js';
import { elements } from './chromium.js';
import { bookinfo, startFakePrometheus, type Canned } from './dashboard-fixtures.js';

const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '.ambit', 'test-output', 'dashboard');

/** Runs `ambit dashboard` against a Prometheus URL while `use` looks at the page. */
async function withDashboard(prometheusUrl: string, use: (url: string) => Promise<void>): Promise<void> {
  let out = '';
  let err = '';
  let release!: () => void;
  let failure: unknown;
  const stopped = new Promise<void>((r) => (release = r));
  const watch = setInterval(() => {
    const m = /(http:\/\/[^ ]+\/) /.exec(out);
    if (!m) return;
    clearInterval(watch);
    use(m[1]).catch((e: unknown) => (failure = e)).finally(release);
  }, 20);
  const code = await runCli(['dashboard', '--no-browser', '--port', '0', '--prometheus-url', prometheusUrl], { out: (s) => (out += s), err: (s) => (err += s), env: { HOME: '/nonexistent' }, stopped });
  clearInterval(watch);
  if (failure) throw failure;
  if (code !== 0) throw new Error(`ambit dashboard exited ${code}: ${err}`);
}

const pngSize = (png: Buffer) => ({ signature: png.subarray(1, 4).toString('latin1'), width: png.readUInt32BE(16), height: png.readUInt32BE(20) });

test.serial('Chromium is installed (CI installs it with scripts/ensure-tools.sh)', async (t) => {
  t.truthy(await findChromium());
});

test.serial('the Bookinfo graph is drawn: productpage, details, reviews v1/v2/v3, ratings, with edges, padlocks and waypoints', async (t) => {
  const prom = await startFakePrometheus(bookinfo());
  await mkdir(outDir, { recursive: true });
  try {
    await withDashboard(prom.url, async (url) => {
      const dom = await dumpDom(url);
      t.regex(dom, /<body data-state="ok"/);
      const nodes = elements(dom, 'g', 'node');
      const drawn = new Map(nodes.map((n) => [n['data-name'], n]));
      for (const [name, version] of [['productpage-v1', 'v1'], ['details-v1', 'v1'], ['reviews-v1', 'v1'], ['reviews-v2', 'v2'], ['reviews-v3', 'v3'], ['ratings-v1', 'v1']]) {
        t.is(drawn.get(name)?.['data-kind'], 'workload', name);
        t.is(drawn.get(name)?.['data-version'], version, name);
      }
      for (const svc of ['productpage', 'details', 'reviews', 'ratings']) t.is(drawn.get(svc)?.['data-kind'], 'service', svc);
      t.is(drawn.get('bookinfo-reviews')?.['data-kind'], 'waypoint');
      // The names and versions are text on the page, not only attributes.
      for (const label of ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1', 'v3 · default', 'bookinfo-productpage']) t.true(dom.includes(`>${label}</text>`), label);

      const edges = new Set(elements(dom, 'g', 'edge').map((e) => `${e['data-source']} -> ${e['data-target']}`));
      const W = (n: string) => `workload:default/${n}`;
      const S = (n: string) => `service:${n}.default.svc.cluster.local`;
      for (const e of [
        [W('productpage-v1'), S('details')],
        [S('details'), W('details-v1')],
        [W('productpage-v1'), S('reviews')],
        [S('reviews'), W('reviews-v1')],
        [S('reviews'), W('reviews-v2')],
        [S('reviews'), W('reviews-v3')],
        [W('reviews-v2'), S('ratings')],
        [W('reviews-v3'), S('ratings')],
        [S('ratings'), W('ratings-v1')],
      ])
        t.true(edges.has(`${e[0]} -> ${e[1]}`), `${e[0]} -> ${e[1]}`);
      const viaWaypoint = elements(dom, 'g', 'edge').find((e) => e['data-target'] === S('reviews'));
      t.is(viaWaypoint?.['data-waypoint'], 'waypoint:default/bookinfo-reviews');
      t.is(elements(dom, 'g', 'mtls').length, 11, 'a padlock on every mTLS edge');
      t.true(dom.includes('>0.70 rps · p99 31 ms</text>'), 'reviews-v3: rate and p99');
      t.true(dom.includes('>14% 5xx</text>'), 'reviews-v3: its 503s');

      const api = JSON.parse(await (await fetch(`${url}api/graph`)).text()) as Snapshot;
      const file = join(outDir, 'bookinfo.png');
      await screenshot(url, file, api.graph.layout.width + 60, api.graph.layout.height + 130);
      const png = pngSize(await readFile(file));
      t.is(png.signature, 'PNG');
      t.is(png.width, api.graph.layout.width + 60);
      t.log(`screenshot: ${file}`);
    });
  } finally {
    await prom.close();
  }
});

async function statePage(t: import('ava').ExecutionContext, canned: Canned | 'down', shot: string): Promise<string> {
  const prom = await startFakePrometheus(canned === 'down' ? {} : canned);
  if (canned === 'down') await prom.close();
  await mkdir(outDir, { recursive: true });
  let dom = '';
  try {
    await withDashboard(prom.url, async (url) => {
      dom = await dumpDom(url);
      await screenshot(url, join(outDir, shot), 1000, 420);
    });
  } finally {
    if (canned !== 'down') await prom.close();
  }
  t.notRegex(dom, /<svg[^>]*aria-label="service graph"/, 'no graph is drawn');
  return dom;
}

test.serial('with Prometheus down the page says so and what to check, not a blank canvas', async (t) => {
  const dom = await statePage(t, 'down', 'prometheus-down.png');
  t.regex(dom, /<body data-state="prometheus-unreachable"/);
  t.regex(dom, /<h2>Prometheus is not reachable<\/h2>/);
  t.regex(dom, /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  t.true(dom.includes('<code>kubectl -n istio-system get pods -l app=prometheus</code>'));
  t.true(dom.includes('<code>ambit install --addons prometheus</code>'));
});

test.serial('with no traffic yet the page says so', async (t) => {
  const idle = bookinfo();
  for (const k of ['requests', 'tcpBytes', 'tcpConnections'] as const) idle[k] = idle[k]!.map((x) => ({ ...x, value: 0 }));
  const dom = await statePage(t, idle, 'no-traffic.png');
  t.regex(dom, /<body data-state="no-traffic"/);
  t.regex(dom, /<h2>No traffic yet<\/h2>/);
});

test.serial('`ambit dashboard --screenshot FILE` saves a PNG of the graph, prints where, and exits', async (t) => {
  const prom = await startFakePrometheus(bookinfo());
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, 'cli-screenshot.png');
  let out = '';
  let err = '';
  try {
    const code = await runCli(['dashboard', '--port', '0', '--prometheus-url', prom.url, '--screenshot', file], { out: (s) => (out += s), err: (s) => (err += s), env: { HOME: '/nonexistent' } });
    t.is(code, 0, err);
  } finally {
    await prom.close();
  }
  t.regex(out, /^ambit dashboard: the graph \(13 nodes, 11 edges\) from http:\/\/127\.0\.0\.1:\d+ saved to /);
  t.regex(out, new RegExp(`saved to ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  const png = pngSize(await readFile(file));
  t.is(png.signature, 'PNG');
  t.true(png.width >= 1000 && png.height >= 600, `${png.width}x${png.height}`);
});
