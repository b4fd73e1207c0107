// What both bench configurations (explicit and shared) measure the same way: fixed-rate latency (fortio, or an
// in-process generator), process CPU and RSS from /proc, single-stream throughput, held connections.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { ZTUNNEL_NODE_OPTIONS } from '@ambit/mesh-api';

export const QPS = Number(process.env.BENCH_QPS ?? 1000);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
export const WARM_SECONDS = 1;
/** The ztunnels run with the DaemonSet's Node options; BENCH_NODE_OPTIONS overrides them to compare settings. */
export const ZTUNNEL_BENCH_NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS ?? ZTUNNEL_NODE_OPTIONS;
// 10k held connections, as the target is stated (fewer would let one-off heap growth or a GC dominate the figure).
export const CONNS = Number(process.env.BENCH_CONNS ?? 10_000);
export const BYTES = Number(process.env.BENCH_BYTES ?? 512 * 1024 * 1024);
const CLK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Opens a TCP connection to host:port (a plain net.connect, or one made inside a pod's netns). */
export type Dial = (host: string, port: number) => net.Socket;
export const dialHost: Dial = (host, port) => net.connect(port, host);

export const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK;
};
export const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
/** A difference with its sign: +0.300, -0.120. */
export const signed = (n: number, d = 3) => `${n >= 0 ? '+' : ''}${fmt(n, d)}`;

export function fortioPath(): string | undefined {
  for (const p of [process.env.FORTIO, join(process.env.AMBIT_CACHE ?? '/var/cache/ambit', 'go/bin/fortio'), join(process.env.HOME ?? '/root', 'go/bin/fortio')]) if (p && existsSync(p)) return p;
  return spawnSync('sh', ['-c', 'command -v fortio']).stdout?.toString().trim() || undefined;
}

export interface LatencyResult {
  p50: number;
  p90: number;
  p99: number;
  count: number;
  errors: number;
  tool: string;
}

/** fortio at QPS with 4 connections; `prefix` runs it through another command (`ip netns exec <pod>`). */
export async function fortioLoad(bin: string, url: string, file: string, prefix: string[] = [], seconds = SECONDS): Promise<LatencyResult> {
  const argv = [...prefix, bin, 'load', '-allow-initial-errors', '-qps', String(QPS), '-c', '4', '-t', `${seconds}s`, '-json', file, '-quiet', url];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
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
export async function nodeLoad(host: string, port: number, seconds = SECONDS, dial: Dial = dialHost): Promise<LatencyResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  if (dial !== dialHost) agent.createConnection = (() => dial(host, port)) as typeof agent.createConnection;
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

/** Sends `bytes` on one connection made by `open` (plain TCP or TLS), Gbit/s until the peer closes. */
export function throughput(open: () => net.Socket, bytes: number, connectEvent = 'connect'): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    const start = performance.now();
    const s = open();
    s.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.once(connectEvent, pump);
    s.on('data', () => undefined);
    s.on('close', () => resolve((bytes * 8) / ((performance.now() - start) / 1000) / 1e9));
  });
}

/**
 * Opens CONNS connections to host:port and keeps them; `open` counts only those still open (a refused or reset
 * one costs nothing to hold and would flatter the per-connection figure).
 */
export async function holdConnections(host: string, port: number, dial: Dial = dialHost): Promise<{ open: Set<net.Socket>; release(): void }> {
  const held: net.Socket[] = [];
  const open = new Set<net.Socket>();
  for (let i = 0; i < CONNS; i++) {
    const s = dial(host, port);
    s.on('connect', () => open.add(s));
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    held.push(s);
    if (i % 100 === 99) await sleep(20);
  }
  await sleep(1500 + CONNS / 10);
  return { open, release: () => held.forEach((s) => s.destroy()) };
}

/**
 * RSS per held connection of both ztunnels: measured against their RSS right before the connections open (the
 * load phases grow the heap, and that growth is not what a held connection costs). `apps` is the upstream apps'
 * process: it says how many connections it holds, so only connections both ztunnels really carry are counted.
 */
export async function measureHeld(
  pids: readonly [source: number, destination: number],
  apps: ChildProcess,
  hold: () => Promise<{ open: Set<net.Socket>; release(): void }>,
): Promise<Pick<Figures, 'loadedSource' | 'loadedDestination' | 'perConnSource' | 'perConnDestination' | 'opened'>> {
  const loadedSource = rssKb(pids[0]);
  const loadedDestination = rssKb(pids[1]);
  const held = await hold();
  const heldSource = rssKb(pids[0]);
  const heldDestination = rssKb(pids[1]);
  apps.send('holding');
  const reached = await new Promise<number>((r) => apps.once('message', (m: { holding?: number }) => r(m.holding ?? 0)));
  // Open at the client and accepted by the app: the connections both ztunnels really hold.
  const opened = Math.min(held.open.size, reached);
  held.release();
  return {
    loadedSource,
    loadedDestination,
    perConnSource: (heldSource - loadedSource) / opened,
    perConnDestination: (heldDestination - loadedDestination) / opened,
    opened,
  };
}

/** The figures each configuration reports, side by side. */
export interface Figures {
  label: string;
  mesh: LatencyResult;
  direct: LatencyResult;
  /** vCPU per 1000 rps. */
  cpuSource: number;
  cpuDestination: number;
  rps: number;
  /** Gbit/s. */
  tputMesh: number;
  tputPipe: number;
  tputDirect: number;
  /** What the ztunnels had when idle RSS was read. */
  idleNote: string;
  /** KB. */
  idleSource: number;
  idleDestination: number;
  loadedSource: number;
  loadedDestination: number;
  perConnSource: number;
  perConnDestination: number;
  opened: number;
}

/** One configuration's detailed section: each figure next to its direct path. */
export function printFigures(f: Figures): void {
  const row = (name: string, mesh: number, direct: number, unit: string, d = 2) =>
    console.log(`  ${name.padEnd(34)} mesh ${fmt(mesh, d).padStart(9)} ${unit.padEnd(8)} direct ${fmt(direct, d).padStart(9)} ${unit.padEnd(8)} ratio ${fmt(mesh / direct)}`);
  const { mesh, direct } = f;
  console.log(`\n latency at ${QPS} rps, HTTP/1.1 1 KB, 4 connections, ${SECONDS}s (${mesh.tool}); requests mesh ${mesh.count} (errors ${mesh.errors}), direct ${direct.count} (errors ${direct.errors})`);
  row('p50', mesh.p50, direct.p50, 'ms', 3);
  row('p90', mesh.p90, direct.p90, 'ms', 3);
  row('p99', mesh.p99, direct.p99, 'ms', 3);
  console.log(`  added latency                      p50 ${signed(mesh.p50 - direct.p50)} ms, p99 ${signed(mesh.p99 - direct.p99)} ms (target <= +0.3 / +0.5)`);
  console.log(`\n CPU at ${fmt(f.rps, 0)} rps (/proc/<pid>/stat utime+stime)`);
  console.log(`  source ztunnel                     ${fmt(f.cpuSource, 3)} vCPU per 1000 rps`);
  console.log(`  destination ztunnel                ${fmt(f.cpuDestination, 3)} vCPU per 1000 rps (target <= 0.12 each; direct path: 0)`);
  console.log(`\n single-stream throughput (${BYTES >> 20} MiB)`);
  row('mesh vs two-process TLS pipe', f.tputMesh, f.tputPipe, 'Gbit/s');
  row('mesh vs direct TCP', f.tputMesh, f.tputDirect, 'Gbit/s');
  console.log(`  (the pipe: TCP -> process -> mutual TLS 1.3 -> process -> TCP, the mesh's topology without HBONE)`);
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  console.log(`\n memory (VmRSS)`);
  console.log(`  idle (${f.idleNote})`);
  console.log(`  idle                               source ${mb(f.idleSource)} MB, destination ${mb(f.idleDestination)} MB (target <= 35 MB; direct path: 0)`);
  console.log(`  after the load phases              source ${mb(f.loadedSource)} MB, destination ${mb(f.loadedDestination)} MB`);
  console.log(`  per open connection (${f.opened} of ${CONNS} open) source ${fmt(f.perConnSource, 1)} KB, destination ${fmt(f.perConnDestination, 1)} KB (target <= 10 KB; Istio ~5 KB)`);
}

/** The summary: each row with the explicit and the shared configuration side by side. */
export function printSideBySide(explicit: Figures | string, shared: Figures | string): void {
  const cols = [explicit, shared];
  const cell = (f: Figures | string, v: (f: Figures) => string) => (typeof f === 'string' ? 'n/a' : v(f)).padEnd(30);
  const line = (name: string, v: (f: Figures) => string) => console.log(`  ${name.padEnd(40)} ${cols.map((c) => cell(c, v)).join(' ')}`);
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  console.log(`\n ztunnel side by side                     ${'explicit'.padEnd(30)} ${'shared (in-pod, as the DaemonSet)'.padEnd(30)}`);
  line(`added latency p50/p90/p99 at ${QPS} rps`, (f) => `${signed(f.mesh.p50 - f.direct.p50)} / ${signed(f.mesh.p90 - f.direct.p90)} / ${signed(f.mesh.p99 - f.direct.p99)} ms`);
  line('direct path p50/p90/p99', (f) => `${fmt(f.direct.p50, 3)} / ${fmt(f.direct.p90, 3)} / ${fmt(f.direct.p99, 3)} ms`);
  line('CPU per 1000 rps source/destination', (f) => `${fmt(f.cpuSource, 3)} / ${fmt(f.cpuDestination, 3)} vCPU`);
  line('single-stream throughput', (f) => `${fmt(f.tputMesh)} Gbit/s`);
  line('  direct TCP / two-process TLS pipe', (f) => `${fmt(f.tputDirect)} / ${fmt(f.tputPipe)} Gbit/s`);
  line('idle RSS source/destination', (f) => `${mb(f.idleSource)} / ${mb(f.idleDestination)} MB`);
  line(`RSS per held connection src/dst`, (f) => `${fmt(f.perConnSource, 1)} / ${fmt(f.perConnDestination, 1)} KB (${f.opened})`);
  for (const c of cols) if (typeof c === 'string') console.log(`  ${c}`);
}
