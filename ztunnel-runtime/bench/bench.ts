// ztunnel benchmark: two ztunnels (explicit mode, separate processes) with mTLS HBONE between them vs the direct
// path, in the same run. Prints each figure next to the direct path and the ratio. Never fails on a number.
import { execFileSync, fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createCsr, createRootCA, signCsr } from '@ambit/mesh-api';

const here = dirname(fileURLToPath(import.meta.url));
const mainJs = join(here, '..', 'src', 'main.js');
const QPS = Number(process.env.BENCH_QPS ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARM_SECONDS = 1;
// 10k held connections, as the target is stated (fewer would let one-off heap growth or a GC dominate the figure).
const CONNS = Number(process.env.BENCH_CONNS ?? 10_000);
const BYTES = Number(process.env.BENCH_BYTES ?? 512 * 1024 * 1024);
const A = '127.81.0.2';
const B = '127.81.0.3';
const HBONE = 15408;
const CLK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
};
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const row = (name: string, mesh: number, direct: number, unit: string, d = 2) =>
  console.log(`  ${name.padEnd(34)} mesh ${fmt(mesh, d).padStart(9)} ${unit.padEnd(8)} direct ${fmt(direct, d).padStart(9)} ${unit.padEnd(8)} ratio ${fmt(mesh / direct)}`);

function fortioPath(): string | undefined {
  for (const p of [process.env.FORTIO, join(process.env.AMBIT_CACHE ?? '/var/cache/ambit', 'go/bin/fortio'), join(process.env.HOME ?? '/root', 'go/bin/fortio')]) if (p && existsSync(p)) return p;
  return spawnSync('sh', ['-c', 'command -v fortio']).stdout?.toString().trim() || undefined;
}

interface LatencyResult {
  p50: number;
  p90: number;
  p99: number;
  count: number;
  errors: number;
  tool: string;
}

async function fortioLoad(bin: string, url: string, dir: string): Promise<LatencyResult> {
  const file = join(dir, `fortio-${Date.now()}.json`);
  const child = spawn(bin, ['load', '-allow-initial-errors', '-qps', String(QPS), '-c', '4', '-t', `${SECONDS}s`, '-json', file, '-quiet', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-500)));
  await new Promise((r) => child.once('exit', r));
  if (!existsSync(file)) throw new Error(`fortio failed: ${err}`);
  const j = JSON.parse(readFileSync(file, 'utf8'));
  const pct = (p: number) => (j.DurationHistogram.Percentiles.find((x: { Percentile: number }) => x.Percentile === p)?.Value ?? NaN) * 1000;
  const ok = j.RetCodes?.['200'] ?? 0;
  return { p50: pct(50), p90: pct(90), p99: pct(99), count: j.DurationHistogram.Count, errors: j.DurationHistogram.Count - ok, tool: 'fortio' };
}

/** Fixed-rate load with 4 keep-alive connections, latency per request. */
async function nodeLoad(host: string, port: number, seconds = SECONDS): Promise<LatencyResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const lat: number[] = [];
  let errors = 0;
  const interval = 1000 / QPS;
  const end = performance.now() + seconds * 1000;
  const inflight: Promise<void>[] = [];
  let next = performance.now();
  while (performance.now() < end) {
    const t0 = performance.now();
    inflight.push(
      new Promise<void>((resolve) => {
        const r = http.get({ host, port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => {
            lat.push(performance.now() - t0);
            resolve();
          });
        });
        r.on('error', () => {
          errors++;
          resolve();
        });
      }),
    );
    next += interval;
    const wait = next - performance.now();
    if (wait > 1) await sleep(wait);
    else if (inflight.length % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(inflight);
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  return { p50: q(50), p90: q(90), p99: q(99), count: lat.length, errors, tool: 'in-process generator' };
}

function startZtunnel(configPath: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = fork(mainJs, ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ZTUNNEL_LOG_LEVEL: 'warn' } });
    let err = '';
    c.stderr?.on('data', (d) => (err += d));
    c.once('message', () => resolve(c));
    c.once('exit', (code) => reject(new Error(`ztunnel exited ${code}: ${err}`)));
  });
}

function throughput(host: string, port: number, bytes: number, viaTls?: tls.ConnectionOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    const start = performance.now();
    const s = viaTls ? tls.connect({ ...viaTls, host, port }) : net.connect(port, host);
    s.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.once(viaTls ? 'secureConnect' : 'connect', pump);
    s.on('data', () => undefined);
    s.on('close', () => resolve((bytes * 8) / ((performance.now() - start) / 1000) / 1e9));
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-zt-bench-'));
  const procs: ChildProcess[] = [];
  try {
    // CA shared by both ztunnels (0600 files)
    const ca = createRootCA({ commonName: 'bench' });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    const mesh = {
      workloads: [
        { uid: 'b//Pod/bench/client', name: 'client', namespace: 'bench', serviceAccount: 'client', workloadIps: [A], protocol: 'HBONE' },
        { uid: 'b//Pod/bench/server', name: 'server', namespace: 'bench', serviceAccount: 'server', workloadIps: [B], protocol: 'HBONE', services: { 'bench/server.bench.svc.cluster.local': { 80: 8080 } } },
      ],
      services: [{ name: 'server', namespace: 'bench', hostname: 'server.bench.svc.cluster.local', vips: ['/127.81.1.1'], ports: { 80: 8080 } }],
      policies: [{ name: 'allow-bench', namespace: 'bench', scope: 'Namespace', action: 'Allow', dryRun: false, rules: [[[{ namespaces: [{ Exact: 'bench' }] }]]] }],
    };
    writeFileSync(join(dir, 'mesh.yaml'), JSON.stringify(mesh));
    const common = { localXdsPath: join(dir, 'mesh.yaml'), hbonePort: HBONE, adminAddr: 'off', readinessAddr: 'off', statsAddr: 'off', ca: { certPath: join(dir, 'ca.pem'), keyPath: join(dir, 'ca.key') } };
    writeFileSync(
      join(dir, 'za.yaml'),
      JSON.stringify({ ...common, explicit: { workloads: [{ uid: 'b//Pod/bench/client', outbound: [{ listen: `${A}:7001`, target: '127.81.1.1:80' }, { listen: `${A}:7002`, target: `${B}:9000` }, { listen: `${A}:7003`, target: `${B}:9001` }] }] } }),
    );
    writeFileSync(join(dir, 'zb.yaml'), JSON.stringify({ ...common, explicit: { workloads: [{ uid: 'b//Pod/bench/server' }] } }));

    // upstream apps on the server workload's IP, in their own process
    const apps = fork(join(here, 'apps.js'), [B], { stdio: 'ignore' });
    procs.push(apps);
    await new Promise((r) => apps.once('message', r));
    const zb = await startZtunnel(join(dir, 'zb.yaml'));
    procs.push(zb);
    const za = await startZtunnel(join(dir, 'za.yaml'));
    procs.push(za);
    await sleep(300);
    const idleA = rssKb(za.pid!);
    const idleB = rssKb(zb.pid!);

    console.log(`ztunnel-runtime bench: two ztunnels (explicit mode, mTLS HBONE) vs direct, node ${process.version}`);
    // warm up (certificates, pooled connection)
    const warm = await nodeLoad(A, 7001, WARM_SECONDS);
    if (warm.errors > 0 || warm.count === 0) console.log(`  warm-up: ${warm.count} ok, ${warm.errors} errors`);

    const fortio = fortioPath();
    const load = (host: string, port: number) => (fortio ? fortioLoad(fortio, `http://${host}:${port}/`, dir) : nodeLoad(host, port));
    const cpu0 = [cpuTicks(za.pid!), cpuTicks(zb.pid!)];
    const t0 = performance.now();
    const mesh_ = await load(A, 7001);
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = [cpuTicks(za.pid!), cpuTicks(zb.pid!)];
    const direct = await load(B, 8080);
    const rps = mesh_.count / secs;
    const vcpu = (i: number) => (cpu1[i]! - cpu0[i]!) / CLK / secs;
    console.log(`\n latency at ${QPS} rps, HTTP/1.1 1 KB, 4 connections, ${SECONDS}s (${mesh_.tool}); requests mesh ${mesh_.count} (errors ${mesh_.errors}), direct ${direct.count} (errors ${direct.errors})`);
    row('p50', mesh_.p50, direct.p50, 'ms', 3);
    row('p90', mesh_.p90, direct.p90, 'ms', 3);
    row('p99', mesh_.p99, direct.p99, 'ms', 3);
    console.log(`  added latency                      p50 +${fmt(mesh_.p50 - direct.p50, 3)} ms, p99 +${fmt(mesh_.p99 - direct.p99, 3)} ms (target <= +0.3 / +0.5)`);
    console.log(`\n CPU at ${fmt(rps, 0)} rps (/proc/<pid>/stat utime+stime)`);
    console.log(`  source ztunnel                     ${fmt((vcpu(0) * 1000) / rps, 3)} vCPU per 1000 rps`);
    console.log(`  destination ztunnel                ${fmt((vcpu(1) * 1000) / rps, 3)} vCPU per 1000 rps (target <= 0.12 each; direct path: 0)`);

    // single-stream throughput
    const leafIdentity = 'spiffe://cluster.local/ns/bench/sa/server';
    const { csrPem, keyPem } = createCsr(leafIdentity);
    const [leaf] = signCsr(ca, csrPem, { identity: leafIdentity });
    writeFileSync(join(dir, 'leaf.pem'), leaf!, { mode: 0o600 });
    writeFileSync(join(dir, 'leaf.key'), keyPem, { mode: 0o600 });
    // The baseline is the same two-process path without the mesh: app -> TCP -> process 1 -> mutual TLS ->
    // process 2 -> TCP -> sink (bench/tlspipe.ts).
    const certs = [join(dir, 'leaf.pem'), join(dir, 'leaf.key')];
    const decrypt = fork(join(here, 'tlspipe.js'), ['decrypt', '127.81.0.5', '7443', B, '9000', ...certs], { stdio: 'ignore' });
    const encrypt = fork(join(here, 'tlspipe.js'), ['encrypt', '127.81.0.4', '7442', '127.81.0.5', '7443', ...certs], { stdio: 'ignore' });
    procs.push(decrypt, encrypt);
    await Promise.all([decrypt, encrypt].map((p) => new Promise((r) => p.once('message', r))));
    const tMesh = await throughput(A, 7002, BYTES);
    const tTls = await throughput('127.81.0.4', 7442, BYTES);
    const tTcp = await throughput(B, 9000, BYTES);
    console.log(`\n single-stream throughput (${BYTES >> 20} MiB)`);
    row('mesh vs two-process TLS pipe', tMesh, tTls, 'Gbit/s');
    row('mesh vs direct TCP', tMesh, tTcp, 'Gbit/s');
    console.log(`  (the pipe: TCP -> process -> mutual TLS 1.3 -> process -> TCP, the mesh's topology without HBONE)`);

    // memory. Idle is the fresh process (measured above, before any load). Per connection is measured against
    // the RSS right before the connections open: the load phases above grow the heap, and that growth is not
    // the cost of a held connection.
    const loadedA = rssKb(za.pid!);
    const loadedB = rssKb(zb.pid!);
    const held: net.Socket[] = [];
    // Only connections that opened, and are still open when memory is read, count: a refused or reset one costs
    // nothing to hold and would flatter the figure.
    const open = new Set<net.Socket>();
    for (let i = 0; i < CONNS; i++) {
      const s = net.connect(7003, A);
      s.on('connect', () => open.add(s));
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
      held.push(s);
      if (i % 100 === 99) await sleep(20);
    }
    await sleep(1500 + CONNS / 10);
    const heldA = rssKb(za.pid!);
    const heldB = rssKb(zb.pid!);
    apps.send('holding');
    const reached = await new Promise<number>((r) => apps.once('message', (m: { holding?: number }) => r(m.holding ?? 0)));
    // Open at the client and accepted by the app: the connections both ztunnels really hold.
    const opened = Math.min(open.size, reached);
    console.log(`\n memory (VmRSS)`);
    console.log(`  idle (fresh process)               source ${(idleA / 1024).toFixed(1)} MB, destination ${(idleB / 1024).toFixed(1)} MB (target <= 60 MB; direct path: 0)`);
    console.log(`  after the load phases              source ${(loadedA / 1024).toFixed(1)} MB, destination ${(loadedB / 1024).toFixed(1)} MB`);
    console.log(
      `  per open connection (${opened} of ${CONNS} open) source ${fmt((heldA - loadedA) / opened, 1)} KB, destination ${fmt((heldB - loadedB) / opened, 1)} KB (target <= 10 KB; Istio ~5 KB)`,
    );
    for (const s of held) s.destroy();
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(`ztunnel-runtime bench did not complete: ${(e as Error).message}`);
    process.exit(0);
  },
);
