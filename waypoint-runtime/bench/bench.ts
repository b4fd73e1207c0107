// Waypoint benchmark. Every figure is printed next to the direct path measured in the same run, with the ratio;
// numbers never fail anything. Each proxy runs in its own process; its CPU comes from /proc/<pid>/stat.
//   capacity: closed loop, C connections, D seconds -> rps, proxy CPU (vCPU), rps per vCPU of the proxy
//   latency:  open loop at R rps for D seconds (latency from the scheduled send time) -> p50/p90/p99, and the
//             proxy's CPU per 1000 rps at that fixed rate (Istio's measurement point for the Envoy waypoint)
//   memory:   VmRSS of each proxy fresh (idle, 1 s after it listens) and after the load; per open HBONE tunnel:
//             a fresh waypoint holding N idle tunnels, (RSS after - RSS before) / N
// Scenarios: direct; bare @fastify/http-proxy; Debian's nginx as a reverse proxy (./nginx.ts); waypoint with an
// empty chain; with each built-in plugin alone (telemetry only with BENCH_QUICK); with all of them; and (mTLS on
// both legs) HBONE direct vs HBONE through the waypoint with all plugins; and each built-in plugin's cost per request
// alone, in process (./plugin-cost.ts), which the machine's noise moves less than the process-level ratios.
// The proxies run with the waypoint's NODE_OPTIONS as rendered in its Deployment (WAYPOINT_NODE_OPTIONS).
// Env: BENCH_NODE_OPTIONS (instead of those; e.g. ' ' for V8's defaults), BENCH_SECONDS (default 4), BENCH_RPS (1000), BENCH_CONNECTIONS (32), BENCH_TUNNELS (1000), BENCH_QUICK=1
// (fewer scenarios), NGINX (an nginx binary instead of the one scripts/nginx.sh fetches into $AMBIT_CACHE).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRootCA, HboneClient, LocalCA, CertificateManager, WAYPOINT_NODE_OPTIONS } from '@ambit/mesh-api';
import { Pool, type Dispatcher } from 'undici';
import { StreamDuplex } from '../src/index.js';
import { UPSTREAM_CONNECTIONS } from './like-for-like.js';
import { startNginx } from './nginx.js';
import { pluginCosts } from './plugin-cost.js';
import { holdTunnels } from './tunnels.js';

const here = dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const RPS = Number(process.env.BENCH_RPS ?? 1000);
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const QUICK = process.env.BENCH_QUICK === '1';
const TUNNELS = Number(process.env.BENCH_TUNNELS ?? 1000);
const TICK = Number(process.env.CLK_TCK ?? 100);

function start(script: string, args: string[]): Promise<{ child: ChildProcess; info: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    // The proxies run with the Node options the controller renders into the waypoint's Deployment (the bare
    // @fastify/http-proxy too: like for like); BENCH_NODE_OPTIONS overrides them to compare settings.
    const env = script === 'proxy.js' ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${process.env.BENCH_NODE_OPTIONS ?? WAYPOINT_NODE_OPTIONS}`.trim() } : process.env;
    const child = spawn(process.execPath, [join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, info: JSON.parse(buf.slice(0, nl)) });
    });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Idle: the fresh process, settled for a second after it said it listens, before any request.
const idleRss = async (pid: number) => (await sleep(1000), rss(pid));

interface Target {
  dispatcher: Dispatcher;
  host: string;
  pid?: number;
}

async function once(t: Target): Promise<void> {
  const res = await t.dispatcher.request({ path: '/bench', method: 'GET', headers: { host: t.host } });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
}

async function capacity(t: Target): Promise<{ rps: number; cpu?: number; errors: number }> {
  for (let i = 0; i < 200; i++) await once(t).catch(() => undefined); // warm up
  const deadline = Date.now() + SECONDS * 1000;
  const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
  const t0 = performance.now();
  let n = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (Date.now() < deadline) {
        try {
          await once(t);
          n++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = t.pid ? (cpuSeconds(t.pid) - cpu0) / wall : undefined;
  return { rps: n / wall, cpu, errors };
}

async function latency(t: Target): Promise<{ p50: number; p90: number; p99: number; cpu?: number; rate: number; errors: number }> {
  for (let i = 0; i < 200; i++) await once(t).catch(() => undefined);
  const total = RPS * SECONDS;
  const lat: number[] = [];
  let errors = 0;
  const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RPS));
      for (; sent < due; sent++) {
        const scheduled = t0 + (sent * 1000) / RPS;
        inflight.push(
          once(t).then(
            () => void lat.push(performance.now() - scheduled),
            () => void errors++,
          ),
        );
      }
      if (sent >= total) resolve();
      else setImmediate(tick);
    };
    tick();
  });
  await Promise.all(inflight);
  const wall = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  return { p50: p(0.5), p90: p(0.9), p99: p(0.99), cpu: t.pid ? (cpuSeconds(t.pid) - cpu0) / wall : undefined, rate: (lat.length + errors) / wall, errors };
}

function plainTarget(port: number, host: string, pid?: number): Target {
  return { dispatcher: new Pool(`http://127.0.0.1:${port}`, { connections: CONNS, pipelining: 1 }), host, pid };
}

function hboneTarget(client: HboneClient, port: number, authority: string, identity: string, cert: Awaited<ReturnType<CertificateManager['get']>>, pid?: number): Target {
  const dispatcher = new Pool(`http://${authority}`, {
    connections: CONNS,
    pipelining: 1,
    connect: (_o, cb) => {
      client.connect({ nextHop: { host: '127.0.0.1', port }, authority, expectedIdentities: [identity], certificate: cert }).then(
        (s) => cb(null, new StreamDuplex(s) as never),
        (e: Error) => cb(e, null),
      );
    },
  });
  return { dispatcher, host: 'app:80', pid };
}

interface Row {
  name: string;
  rps: number;
  cpu?: number;
  perCpu?: number;
  p50: number;
  p90: number;
  p99: number;
  /** vCPU of the proxy per 1000 rps, at the open-loop rate of the latency phase. */
  cpuPer1k?: number;
  idleRssMb?: number;
  rssMb?: number;
  errors: number;
}

async function measure(name: string, t: Target, idleRssMb?: number): Promise<Row> {
  const c = await capacity(t);
  const l = await latency(t);
  const row: Row = {
    name, rps: c.rps, cpu: c.cpu, perCpu: c.cpu ? c.rps / c.cpu : undefined, p50: l.p50, p90: l.p90, p99: l.p99,
    cpuPer1k: l.cpu !== undefined ? (l.cpu * 1000) / l.rate : undefined, idleRssMb, rssMb: t.pid ? rss(t.pid) : undefined, errors: c.errors + l.errors,
  };
  await t.dispatcher.close();
  console.log(
    `${name.padEnd(34)} ${row.rps.toFixed(0).padStart(7)} rps` +
      `${row.cpu !== undefined ? `  cpu ${row.cpu.toFixed(2)} vCPU  ${row.perCpu!.toFixed(0).padStart(6)} rps/vCPU` : ''.padEnd(33)}` +
      `  @${RPS}rps p50 ${row.p50.toFixed(2)} p90 ${row.p90.toFixed(2)} p99 ${row.p99.toFixed(2)} ms` +
      `${row.cpuPer1k !== undefined ? `  cpu/1k rps ${row.cpuPer1k.toFixed(3)}` : ''}` +
      `${row.rssMb ? `  rss idle ${row.idleRssMb?.toFixed(0) ?? '?'} / load ${row.rssMb.toFixed(0)} MB` : ''}${row.errors ? `  errors ${row.errors}` : ''}`,
  );
  return row;
}

async function main(): Promise<void> {
  console.log(`waypoint bench: ${cpus().length} vCPU, ${SECONDS}s per phase, ${CONNS} connections (capacity), ${RPS} rps open loop (latency), 1 KiB responses`);
  const caDir = mkdtempSync(join(tmpdir(), 'ambit-bench-ca-'));
  const ca = createRootCA();
  writeFileSync(join(caDir, 'ca.pem'), ca.certPem);
  writeFileSync(join(caDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  const children: ChildProcess[] = [];
  const rows: Row[] = [];
  try {
    const up = await start('upstream.js', [caDir]);
    children.push(up.child);
    const httpPort = up.info.http!;
    const direct = await measure('direct (client -> app)', plainTarget(httpPort, 'app:80'));
    rows.push(direct);

    const run = async (name: string, args: string[]) => {
      const p = await start('proxy.js', args);
      children.push(p.child);
      const row = await measure(name, plainTarget(p.info.port!, 'app:80', p.child.pid), await idleRss(p.child.pid!));
      p.child.kill();
      rows.push(row);
      return row;
    };
    const bare = await run('bare @fastify/http-proxy', ['http-proxy', String(httpPort)]);
    // The C peer on the same plain HTTP path, the same upstream and the same 64 upstream keep-alive connections.
    const peer = await startNginx(join(here, '..', '..', '..', 'scripts', 'nginx.sh'), httpPort, UPSTREAM_CONNECTIONS);
    let nginx: Row | undefined;
    if ('unavailable' in peer) console.log(`nginx reverse proxy: not measured (${peer.unavailable}); the bench goes on without it`);
    else {
      children.push(peer.child);
      nginx = await measure(`nginx ${peer.version.replace(/^nginx\//, '')} reverse proxy`, plainTarget(peer.port, 'app:80', peer.child.pid), await idleRss(peer.child.pid!));
      peer.stop();
      rows.push(nginx);
    }
    const empty = await run('waypoint, empty chain', ['waypoint', 'none', String(httpPort)]);
    const single: Record<string, Row> = {};
    for (const p of QUICK ? ['telemetry'] : ['authz', 'routing', 'telemetry']) single[p] = await run(`waypoint, ${p} only`, ['waypoint', p, String(httpPort)]);
    const all = await run('waypoint, authz+routing+telemetry', ['waypoint', 'all', String(httpPort)]);

    // mTLS HBONE on both legs.
    const certs = new CertificateManager(new LocalCA(ca));
    const clientCert = await certs.get('spiffe://cluster.local/ns/default/sa/client');
    const client = new HboneClient();
    const hDirect = await measure('HBONE direct (client -> app ztunnel)', hboneTarget(client, up.info.hbone!, '127.0.0.1:' + httpPort, 'spiffe://cluster.local/ns/default/sa/app', clientCert));
    rows.push(hDirect);
    const wpArgs = ['waypoint', 'all', String(httpPort), caDir, String(up.info.hbone)];
    const wpIdentity = 'spiffe://cluster.local/ns/default/sa/waypoint';
    const wp = await start('proxy.js', wpArgs);
    children.push(wp.child);
    const hWaypoint = await measure('HBONE via waypoint (all plugins)', hboneTarget(client, wp.info.hbone!, '10.96.0.1:80', wpIdentity, clientCert, wp.child.pid), await idleRss(wp.child.pid!));
    rows.push(hWaypoint);
    wp.child.kill();

    // Memory per open tunnel, on a fresh waypoint: the load above grew the heap, and tunnels would fit in that
    // headroom and flatter the figure. Its own client, so no pooled connection from the load phases is counted.
    const fresh = await start('proxy.js', wpArgs);
    children.push(fresh.child);
    const tunnelClient = new HboneClient();
    const before = await idleRss(fresh.child.pid!);
    const held = await holdTunnels(tunnelClient, fresh.info.hbone!, '10.96.0.1:80', wpIdentity, clientCert, TUNNELS);
    await sleep(1500);
    const after = rss(fresh.child.pid!);
    const opened = held.open();
    held.release();
    tunnelClient.destroy();
    fresh.child.kill();
    client.close();
    certs.close();

    const pct = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)}%`;
    const cost = (r: Row, base: Row) => (r.perCpu && base.perCpu ? `${((1 - r.perCpu / base.perCpu) * 100).toFixed(1)}%` : 'n/a');
    const f = (n: number | undefined, d = 0) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : 'n/a');
    const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? (a / b).toFixed(2) : 'n/a');
    console.log('\nsummary (same run; targets from shared/reference/performance.md)');
    console.log(`  empty chain vs bare @fastify/http-proxy:   throughput ${pct(empty.rps, bare.rps)}  (target >= -10%),  per vCPU ${empty.perCpu && bare.perCpu ? pct(empty.perCpu, bare.perCpu) : 'n/a'}`);
    for (const [p, r] of Object.entries(single)) {
      console.log(
        `  ${`${p} cost vs empty chain:`.padEnd(42)}${cost(r, empty)} of rps per vCPU, ${r.cpuPer1k && empty.cpuPer1k ? pct(r.cpuPer1k, empty.cpuPer1k) : 'n/a'} CPU per 1000 rps @${RPS} rps, throughput ${pct(r.rps, empty.rps)}  (target <= 5%)`,
      );
    }
    // The process-level ratios above move with the machine by more than a plugin costs: each plugin alone, in process.
    const own = await pluginCosts();
    const requestUs = all.perCpu ? 1e6 / all.perCpu : undefined;
    for (const [p, us] of Object.entries(own)) {
      if (p === 'empty') continue;
      console.log(`  ${`${p} alone, in process:`.padEnd(42)}${us.toFixed(1)} us per request = ${requestUs ? ((us / requestUs) * 100).toFixed(1) : 'n/a'}% of the waypoint's ${f(requestUs)} us per request at capacity  (target <= 5%)`);
    }
    console.log(`  (the empty chain with its request context: ${f(own.empty, 1)} us per request, in the same measurement)`);
    console.log(`  all plugins vs empty chain:                throughput ${pct(all.rps, empty.rps)}`);
    console.log(`  waypoint rps per vCPU (plain, all plugins): ${f(all.perCpu)}  |  HBONE both legs: ${f(hWaypoint.perCpu)}  (target >= 4000; Envoy waypoint 4000)`);
    console.log(
      `  waypoint CPU per 1000 rps @${RPS} rps (open loop): plain, all plugins ${f(all.cpuPer1k, 3)} vCPU (${ratio(all.cpuPer1k, 0.25)}x Envoy)  |  HBONE both legs ${f(hWaypoint.cpuPer1k, 3)} vCPU (${ratio(hWaypoint.cpuPer1k, 0.25)}x Envoy)  (target <= 0.1; Istio's Envoy waypoint 0.25)`,
    );
    console.log(
      `  waypoint RSS (all plugins): idle ${f(all.idleRssMb)} MB plain, ${f(hWaypoint.idleRssMb)} MB HBONE (target <= 100 MB)  |  after load ${f(all.rssMb)} MB plain, ${f(hWaypoint.rssMb)} MB HBONE (Envoy waypoint 60 MB at 1000 rps)`,
    );
    console.log(
      `  waypoint RSS per open HBONE tunnel: ${opened ? f(((after - before) * 1024) / opened, 1) : 'n/a'} KB (${opened} of ${TUNNELS} idle tunnels open; fresh waypoint ${f(before, 1)} -> ${f(after, 1)} MB)  (target <= 20 KB)`,
    );
    console.log(`  added p99 @${RPS} rps, plain:  ${(all.p99 - direct.p99).toFixed(2)} ms (waypoint ${all.p99.toFixed(2)} vs direct ${direct.p99.toFixed(2)}; ratio ${(all.p99 / direct.p99).toFixed(2)}x)`);
    console.log(`  added p99 @${RPS} rps, HBONE:  ${(hWaypoint.p99 - hDirect.p99).toFixed(2)} ms (waypoint ${hWaypoint.p99.toFixed(2)} vs HBONE direct ${hDirect.p99.toFixed(2)}; ratio ${(hWaypoint.p99 / hDirect.p99).toFixed(2)}x)  (target <= +1 ms)`);
    if (nginx) {
      console.log(`\nwaypoint (plain, all plugins) vs nginx reverse proxy (one process, master_process off), same plain HTTP path and load; ratio waypoint / nginx`);
      const line = (what: string, w: string, n: string, r: string, target = '') => console.log(`  ${what.padEnd(24)} waypoint ${w.padStart(22)}   nginx ${n.padStart(22)}   ratio ${r}${target ? `  (${target})` : ''}`);
      line('capacity', `${f(all.rps)} rps`, `${f(nginx.rps)} rps`, ratio(all.rps, nginx.rps));
      line('capacity per vCPU', `${f(all.perCpu)} rps/vCPU`, `${f(nginx.perCpu)} rps/vCPU`, ratio(all.perCpu, nginx.perCpu), `target: nginx within 1.5x, i.e. ratio >= 0.67; nginx/waypoint ${ratio(nginx.perCpu, all.perCpu)}`);
      line(`latency p50/p90/p99 @${RPS}`, `${f(all.p50, 2)}/${f(all.p90, 2)}/${f(all.p99, 2)} ms`, `${f(nginx.p50, 2)}/${f(nginx.p90, 2)}/${f(nginx.p99, 2)} ms`, `${ratio(all.p50, nginx.p50)}/${ratio(all.p90, nginx.p90)}/${ratio(all.p99, nginx.p99)}`);
      line(`CPU per 1000 rps @${RPS}`, `${f(all.cpuPer1k, 3)} vCPU`, `${f(nginx.cpuPer1k, 3)} vCPU`, ratio(all.cpuPer1k, nginx.cpuPer1k));
      line('RSS idle / after load', `${f(all.idleRssMb)} / ${f(all.rssMb)} MB`, `${f(nginx.idleRssMb, 1)} / ${f(nginx.rssMb, 1)} MB`, `${ratio(all.idleRssMb, nginx.idleRssMb)} / ${ratio(all.rssMb, nginx.rssMb)}`);
    }
    const outDir = join(here, '..', '..', '..', 'bench-results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      join(outDir, 'waypoint.json'),
      JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, rps: RPS, connections: CONNS, rows, tunnels: { requested: TUNNELS, open: opened, rssBeforeMb: before, rssAfterMb: after } }, null, 2),
    );
  } finally {
    for (const c of children) c.kill();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.log(`bench failed: ${err.message}`);
    process.exit(0);
  },
);
