// What plugin isolation costs through a whole waypoint (Fastify, the built-in chain, the upstream pool): a plain
// HTTP listener in front of a local upstream, 32 keep-alive connections in a closed loop, three runs: no extra
// plugin; a tagging plugin (onRequest sets a request header, onResponse a response header) bound in-process; the
// same code as a WaypointPlugin package in its sandboxed process. The load generator shares this process (the
// same for all three runs, so they compare like with like); CPU is this process's plus the plugin process's.
// Env: BENCH_SECONDS (default 4), BENCH_CONNECTIONS (32). Numbers never fail anything.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { K8sObject, Plugin, RequestContext } from '@ambit/plugin-sdk';
import { sri } from '@ambit/plugins';
import { Pool } from 'undici';
import { echo, service, startWaypoint, workload } from '../test/helpers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TAG = `export default class Tag {
  name = 'tag';
  onRequest(ctx) { ctx.setRequestHeader('x-tag', 'on'); }
  onResponse(ctx) { ctx.setResponseHeader('x-tagged', '1'); }
}`;
const inProcessTag: Plugin = {
  name: 'tag',
  onRequest: (ctx: RequestContext) => ctx.setRequestHeader('x-tag', 'on'),
  onResponse: (ctx: RequestContext) => ctx.setResponseHeader('x-tagged', '1'),
};

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / Number(process.env.CLK_TCK ?? 100);
}

/** The pids of this process's node children (the plugin process), for its CPU. */
function children(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(process.pid);
      } catch {
        return false;
      }
    });
}

async function load(url: string, tagged: boolean): Promise<{ rps: number; p50: number; cpuUs: number }> {
  const pool = new Pool(url, { connections: CONNS, pipelining: 1 });
  const one = async () => {
    const res = await pool.request({ path: '/bench', method: 'GET', headers: { host: 'productpage:9080' } });
    await res.body.dump();
    if (res.statusCode !== 200 || (tagged && res.headers['x-tagged'] !== '1')) throw new Error(`status ${res.statusCode}, x-tagged ${String(res.headers['x-tagged'])}`);
  };
  for (let i = 0; i < 500; i++) await one(); // warm-up
  const kids = children();
  const cpu0 = process.cpuUsage();
  const kid0 = kids.reduce((a, p) => a + cpuMs(p), 0);
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNS }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await one();
      lat.push(performance.now() - s);
      n++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(cpu0);
  const kid = kids.reduce((a, p) => a + cpuMs(p), 0) - kid0;
  await pool.close();
  lat.sort((a, b) => a - b);
  return { rps: n / secs, p50: lat[Math.floor(lat.length / 2)]!, cpuUs: ((own.user + own.system) + kid * 1000) / n };
}

const app = await echo('productpage');
const mesh = { services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('pp', '127.0.0.1', 'pp', { 'default/productpage.default.svc.cluster.local': { 9080: app.port } })] };
const work = mkdtempSync(join(tmpdir(), 'ambit-bench-sandbox-http-'));
mkdirSync(join(work, 'src', 'package'), { recursive: true });
writeFileSync(join(work, 'src', 'package', 'package.json'), JSON.stringify({ name: 'bench-tag', version: '1.0.0', type: 'module', main: 'index.js' }));
writeFileSync(join(work, 'src', 'package', 'index.js'), TAG);
const tarball = join(work, 'bench-tag.tgz');
execFileSync('tar', ['-czf', tarball, '-C', join(work, 'src'), 'package']);
const wpp: K8sObject = {
  apiVersion: 'extensions.ambit.dev/v1alpha1',
  kind: 'WaypointPlugin',
  metadata: { name: 'tag', namespace: 'default' },
  spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], package: { name: 'bench-tag', version: '1.0.0', tarball, integrity: sri(readFileSync(tarball)) } },
};
const policy = { packages: ['bench-tag'], sources: [pathToFileURL(work).href + '/'] };

const results: Record<string, Awaited<ReturnType<typeof load>>> = {};
for (const run of ['none', 'in-process', 'sandboxed'] as const) {
  const h = await startWaypoint(mesh, run === 'sandboxed' ? [wpp] : [], {
    pluginsDir: join(work, `plugins-${run}`),
    pluginPolicy: policy,
    ...(run === 'in-process' ? { plugins: [{ plugin: inProcessTag }] } : {}),
  });
  if (run === 'sandboxed') await h.waypoint.plugins!.sync(h.waypoint.resources.list('WaypointPlugin', 'extensions.ambit.dev'));
  const r = await load(h.url, run !== 'none');
  results[run] = r;
  console.log(`${run.padEnd(11)} ${Math.round(r.rps).toString().padStart(6)} requests/s   p50 ${r.p50.toFixed(2)} ms   CPU ${r.cpuUs.toFixed(0)} us/request`);
  await h.close();
}
const a = results['in-process']!;
const b = results.sandboxed!;
console.log(`sandboxed vs in-process: throughput x${(b.rps / a.rps).toFixed(2)}, p50 +${(b.p50 - a.p50).toFixed(2)} ms, CPU +${(b.cpuUs - a.cpuUs).toFixed(0)} us/request`);
await app.close();
