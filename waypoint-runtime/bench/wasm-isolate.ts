// What running a proxy-wasm filter's VM in a worker thread costs on the request path: the sample filter
// (samples/plugins/wasm/build/tag.wasm: adds a request header from its configuration and a response header) run
// in-process (WasmHttpFilter) and in its worker (IsolatedWasmFilter, what WaypointPlugins with spec.wasm use),
// through the real PluginChain (onRequest, onResponse, onLog) with a context as the waypoint builds it. Prints
// per-request microseconds sequentially (one request at a time: the round-trip latency), the throughput with 64
// requests in flight, and the process's CPU per request (all threads: the waypoint's and the VM's) in that run.
// Env: BENCH_REQUESTS (default 20000). Numbers never fail anything.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginChain, type Plugin } from '@ambit/plugin-sdk';
import { createTestEnv, fakeContext } from '@ambit/plugin-sdk/testing';
import { IsolatedWasmFilter, WasmHttpFilter } from '@ambit/plugins';

const N = Number(process.env.BENCH_REQUESTS ?? 20000);
const wasmPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'samples', 'plugins', 'wasm', 'build', 'tag.wasm');

async function request(chain: PluginChain, env: ReturnType<typeof createTestEnv>): Promise<void> {
  const ctx = fakeContext({ path: '/bench?x=1', headers: { host: 'productpage:9080', 'user-agent': 'bench', accept: '*/*', 'x-request-id': 'r' } }, env);
  await chain.onRequest(ctx);
  if (ctx.request.headers['x-wasm'] !== 'bench') throw new Error(`filter did not run: ${ctx.localReply?.body ?? ''}`);
  ctx.response = { status: 200, headers: { 'content-type': 'text/plain' } };
  await chain.onResponse(ctx);
  if (ctx.response.headers['x-wasm-response'] !== '/bench?x=1') throw new Error('filter did not run on the response');
  await chain.onLog(ctx);
}

async function measure(label: string, plugin: Plugin, env: ReturnType<typeof createTestEnv>): Promise<{ seqUs: number; rps: number; cpuUs: number }> {
  const chain = new PluginChain([{ plugin, timeoutMs: 5000 }]);
  for (let i = 0; i < 500; i++) await request(chain, env); // warm-up
  let t0 = performance.now();
  for (let i = 0; i < N; i++) await request(chain, env);
  const seqUs = ((performance.now() - t0) * 1000) / N;
  t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next++ < N) await request(chain, env);
  }));
  const rps = N / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / N;
  console.log(`${label.padEnd(12)} sequential ${seqUs.toFixed(1).padStart(7)} us/request   64 in flight ${Math.round(rps).toString().padStart(7)} requests/s   CPU/request (all threads) ${cpuUs.toFixed(1)} us`);
  return { seqUs, rps, cpuUs };
}

const env = createTestEnv();
const module = await WebAssembly.compile(readFileSync(wasmPath));
const opts = { name: 'bench/tag', module, configuration: 'bench', logger: env.logger };
const inProcess = await measure('in-process', await WasmHttpFilter.create(opts), env);
const filter = await IsolatedWasmFilter.create({ ...opts, budgetMs: 5000 });
const isolated = await measure('worker', filter, env);
await filter.close();
console.log(
  `worker cost: +${(isolated.seqUs - inProcess.seqUs).toFixed(1)} us per request sequentially (three hook round trips), ` +
    `+${(isolated.cpuUs - inProcess.cpuUs).toFixed(1)} us CPU per request, throughput x${(isolated.rps / inProcess.rps).toFixed(2)}`,
);
