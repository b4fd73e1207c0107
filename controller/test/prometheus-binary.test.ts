// The Prometheus the add-on runs (test/prometheus/build.sh, from the Go module; the ambit/prometheus image wraps it)
// accepts the add-on's own scrape config, Kubernetes service discovery included, and really scrapes: started on
// loopback against an exporter this test serves, its HTTP API reports the target up with the exporter's samples.
// Without the built binaries these tests are skipped, except under CI=true, where they fail and say how to build.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifests } from '../src/install/install.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const buildScript = join(repo, 'test/prometheus/build.sh');
const binDir = execFileSync('bash', [buildScript, '--dir'], { encoding: 'utf8' }).trim();
const prometheus = join(binDir, 'prometheus');
const promtool = join(binDir, 'promtool');
const missing = [prometheus, promtool].filter((p) => !existsSync(p));

/** A test that needs the built binaries: skipped when they are missing, failing with how to build them under CI. */
function withBinaries(title: string, fn: (t: ExecutionContext) => Promise<void> | void) {
  if (missing.length === 0) test(title, fn);
  else if (process.env.CI === 'true') test(title, (t) => t.fail(`${missing.join(' and ')} missing: build them with bash test/prometheus/build.sh (Go 1.26, the Go module proxy)`));
  else test.skip(`${title} (needs bash test/prometheus/build.sh)`, fn);
}

const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-prometheus-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
};

const addonConfig = () => {
  const cm = manifests(undefined, { addons: ['prometheus'] }).objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'prometheus')!;
  return (cm.data as Record<string, string>)['prometheus.yml']!;
};

withBinaries("promtool check config accepts the add-on's scrape config: its kubernetes_sd_configs are built in", (t) => {
  const { dir, done } = tmp();
  t.teardown(done);
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, addonConfig());
  const r = spawnSync(promtool, ['check', 'config', file], { encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
  t.notRegex(r.stdout + r.stderr, /not found in type/);
});

withBinaries('the build keeps only Kubernetes service discovery (and file/http): a consul_sd_configs job is refused by name', (t) => {
  const { dir, done } = tmp();
  t.teardown(done);
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, 'scrape_configs:\n  - job_name: consul\n    consul_sd_configs:\n      - server: 127.0.0.1:8500\n');
  const r = spawnSync(promtool, ['check', 'config', file], { encoding: 'utf8' });
  t.is(r.status, 1);
  t.regex(r.stdout + r.stderr, /field consul_sd_configs not found in type config\.ScrapeConfig/);
});

withBinaries('prometheus --version is the pinned Prometheus 3.16 with the build tags', (t) => {
  const out = execFileSync(prometheus, ['--version'], { encoding: 'utf8' });
  t.regex(out, /^prometheus, version 3\.16\.\d+ /);
  t.regex(out, /tags:\s+remove_all_sd,enable_kubernetes_sd/);
});

const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

interface QueryResult {
  status: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

withBinaries('the server scrapes a loopback exporter: /api/v1/query?query=up finds the target up, its samples queryable', async (t) => {
  const { dir, done } = tmp();
  t.teardown(done);
  // The exporter: Prometheus' text format, one counter with a label, and who scraped it.
  const agents: string[] = [];
  const exporter = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    agents.push(req.headers['user-agent'] ?? '');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end('# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total{response_code="200"} 42\n');
  });
  const exporterPort = await listen(exporter);
  t.teardown(() => exporter.close());
  const apiPort = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: loopback-exporter\n    static_configs:\n      - targets: ["127.0.0.1:${exporterPort}"]\n`);
  let log = '';
  const server = spawn(prometheus, [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${apiPort}`, `--storage.tsdb.path=${join(dir, 'data')}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (b: Buffer) => (log += b.toString()));
  server.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
  t.teardown(() => void server.kill('SIGTERM'));

  const api = `http://127.0.0.1:${apiPort}`;
  const query = async (q: string) => (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as QueryResult;
  // Wait (without a time bound of its own: ava's timeout is the bound) for the first scrape to land.
  let up: QueryResult | undefined;
  for (;;) {
    const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 250))]);
    if (early !== 'running') return void t.fail(`prometheus exited (${early}):\n${log.slice(-2000)}`);
    try {
      up = await query('up');
      if (up.data.result.length > 0) break;
    } catch {
      // not listening yet
    }
  }
  t.is(up!.status, 'success');
  t.deepEqual(up!.data.result.map((r) => [r.metric, r.value[1]]), [[{ __name__: 'up', instance: `127.0.0.1:${exporterPort}`, job: 'loopback-exporter' }, '1']]);
  const demo = await query('demo_requests_total');
  t.deepEqual(demo.data.result.map((r) => [r.metric, r.value[1]]), [[{ __name__: 'demo_requests_total', instance: `127.0.0.1:${exporterPort}`, job: 'loopback-exporter', response_code: '200' }, '42']]);
  t.regex(agents[0] ?? '', /^Prometheus\/3\.16\./, 'scraped by Prometheus 3.16');
  // The readiness probe the add-on's Deployment uses.
  const ready = await fetch(`${api}/-/ready`);
  t.is(ready.status, 200);
  // No UI assets are built in (the React app is not in the Go module): its pages fail, the API above does not.
  const page = await fetch(`${api}/query`);
  t.is(page.status, 500);
});
