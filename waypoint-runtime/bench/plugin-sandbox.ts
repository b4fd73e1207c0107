// What plugin isolation costs on the request path: the same header plugin (onRequest sets a request header,
// onResponse a response header) run in-process and in its sandboxed process (@ambit/plugins SandboxedPlugin),
// through the real PluginChain with a context as the waypoint builds it. Prints per-request microseconds
// sequentially (one request at a time: the round-trip latency), the throughput with 64 requests in flight, and
// the CPU per request of the waypoint's process and of the plugin's (from /proc/<pid>/stat) in that run.
// Env: BENCH_REQUESTS (default 20000). Numbers never fail anything.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluginChain, type Plugin } from '@ambit/plugin-sdk';
import { createTestEnv, fakeContext } from '@ambit/plugin-sdk/testing';
import { PackageLoader, SandboxedPlugin, sri } from '@ambit/plugins';

const N = Number(process.env.BENCH_REQUESTS ?? 20000);
const SOURCE = `export default class Tag {
  name = 'tag';
  onRequest(ctx) { ctx.setRequestHeader('x-tag', 'on'); }
  onResponse(ctx) { ctx.setResponseHeader('x-tagged', '1'); }
}`;

async function request(chain: PluginChain, env: ReturnType<typeof createTestEnv>): Promise<void> {
  const ctx = fakeContext({ path: '/bench?x=1', headers: { host: 'productpage:9080', 'user-agent': 'bench', accept: '*/*', 'x-request-id': 'r' } }, env);
  await chain.onRequest(ctx);
  if (ctx.request.headers['x-tag'] !== 'on') throw new Error('plugin did not run');
  ctx.response = { status: 200, headers: { 'content-type': 'text/plain' } };
  await chain.onResponse(ctx);
  if (ctx.response.headers['x-tagged'] !== '1') throw new Error('plugin did not run on the response');
}

function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / Number(process.env.CLK_TCK ?? 100);
}

async function measure(label: string, plugin: Plugin, env: ReturnType<typeof createTestEnv>, pluginPid?: number): Promise<{ seqUs: number; rps: number }> {
  const chain = new PluginChain([{ plugin, timeoutMs: 5000 }]);
  for (let i = 0; i < 500; i++) await request(chain, env); // warm-up
  let t0 = performance.now();
  for (let i = 0; i < N; i++) await request(chain, env);
  const seqUs = ((performance.now() - t0) * 1000) / N;
  t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const child0 = cpuMs(pluginPid);
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next++ < N) await request(chain, env);
  }));
  const rps = N / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  const ownUs = ((cpu.user + cpu.system) / N);
  const pluginUs = ((cpuMs(pluginPid) - child0) * 1000) / N;
  console.log(`${label.padEnd(12)} sequential ${seqUs.toFixed(1).padStart(7)} us/request   64 in flight ${Math.round(rps).toString().padStart(7)} requests/s   CPU/request: waypoint ${ownUs.toFixed(1)} us, plugin process ${pluginUs.toFixed(1)} us`);
  return { seqUs, rps };
}

const work = mkdtempSync(join(tmpdir(), 'ambit-bench-sandbox-'));
mkdirSync(join(work, 'src', 'package'), { recursive: true });
writeFileSync(join(work, 'src', 'package', 'package.json'), JSON.stringify({ name: 'bench-tag', version: '1.0.0', type: 'module', main: 'index.js' }));
writeFileSync(join(work, 'src', 'package', 'index.js'), SOURCE);
const tarball = join(work, 'bench-tag.tgz');
execFileSync('tar', ['-czf', tarball, '-C', join(work, 'src'), 'package']);
const ref = { name: 'bench-tag', version: '1.0.0', tarball, integrity: sri(readFileSync(tarball)) };

const env = createTestEnv();
const loader = new PackageLoader({ root: join(work, 'plugins') });
const loaded = await loader.load(ref);
const inProcess = await measure('in-process', env.create(loaded.pluginClass) as Plugin, env);
const sandboxed = await SandboxedPlugin.start({ installed: await loader.install(ref), name: 'bench/tag', waypoint: env.waypoint, logger: env.logger, budgetMs: 5000 });
const isolated = await measure('sandboxed', sandboxed, env, sandboxed.pid);
await sandboxed.close();
console.log(`isolation cost: +${(isolated.seqUs - inProcess.seqUs).toFixed(1)} us per request sequentially (two hook round trips), throughput x${(isolated.rps / inProcess.rps).toFixed(2)}`);
