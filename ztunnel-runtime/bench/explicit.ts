// The explicit-mode configuration: two ztunnels (separate processes, `--config`) on loopback addresses, mTLS HBONE
// between them, the upstream apps in their own process; the direct path and a two-process TLS pipe on the same
// addresses.
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CertificateAuthority } from '@ambit/mesh-api';
import { BYTES, WARM_SECONDS, cpuSeconds, dialHost, fortioLoad, fortioPath, holdConnections, measureHeld, nodeLoad, rssKb, sleep, throughput, ZTUNNEL_BENCH_NODE_OPTIONS, type Figures } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const mainJs = join(here, '..', 'src', 'main.js');
const A = '127.81.0.2';
const B = '127.81.0.3';
const HBONE = 15408;

function startZtunnel(configPath: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = fork(mainJs, ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ZTUNNEL_LOG_LEVEL: 'warn', NODE_OPTIONS: ZTUNNEL_BENCH_NODE_OPTIONS } });
    let err = '';
    c.stderr?.on('data', (d) => (err += d));
    c.once('message', () => resolve(c));
    c.once('exit', (code) => reject(new Error(`ztunnel exited ${code}: ${err}`)));
  });
}

/** Runs the explicit configuration in `dir` (CA files, configs); `leaf` is a server certificate for the TLS pipe. */
export async function runExplicit(dir: string, ca: CertificateAuthority, leaf: string[]): Promise<Figures> {
  const procs: ChildProcess[] = [];
  try {
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
    const idleSource = rssKb(za.pid!);
    const idleDestination = rssKb(zb.pid!);

    // warm up (certificates, pooled connection)
    const warm = await nodeLoad(A, 7001, WARM_SECONDS);
    if (warm.errors > 0 || warm.count === 0) console.log(`  warm-up: ${warm.count} ok, ${warm.errors} errors`);

    const fortio = fortioPath();
    const load = (host: string, port: number) => (fortio ? fortioLoad(fortio, `http://${host}:${port}/`, join(dir, `fortio-${Date.now()}.json`)) : nodeLoad(host, port));
    const cpu0 = [cpuSeconds(za.pid!), cpuSeconds(zb.pid!)];
    const t0 = performance.now();
    const meshLat = await load(A, 7001);
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = [cpuSeconds(za.pid!), cpuSeconds(zb.pid!)];
    const direct = await load(B, 8080);
    const rps = meshLat.count / secs;
    const per1000 = (i: number) => ((cpu1[i]! - cpu0[i]!) / secs) * (1000 / rps);

    // single-stream throughput. The baseline is the same two-process path without the mesh: app -> TCP ->
    // process 1 -> mutual TLS -> process 2 -> TCP -> sink (bench/tlspipe.ts).
    const decrypt = fork(join(here, 'tlspipe.js'), ['decrypt', '127.81.0.5', '7443', B, '9000', ...leaf], { stdio: 'ignore' });
    const encrypt = fork(join(here, 'tlspipe.js'), ['encrypt', '127.81.0.4', '7442', '127.81.0.5', '7443', ...leaf], { stdio: 'ignore' });
    procs.push(decrypt, encrypt);
    await Promise.all([decrypt, encrypt].map((p) => new Promise((r) => p.once('message', r))));
    const tputMesh = await throughput(() => dialHost(A, 7002), BYTES);
    const tputPipe = await throughput(() => dialHost('127.81.0.4', 7442), BYTES);
    const tputDirect = await throughput(() => dialHost(B, 9000), BYTES);

    // memory. Idle is the fresh process (measured above, before any load); per held connection: measureHeld.
    const memory = await measureHeld([za.pid!, zb.pid!], apps, () => holdConnections(A, 7003));
    return {
      label: 'explicit',
      mesh: meshLat,
      direct,
      rps,
      cpuSource: per1000(0),
      cpuDestination: per1000(1),
      tputMesh,
      tputPipe,
      tputDirect,
      idleNote: 'fresh processes, workloads configured, admin servers off, before any load',
      idleSource,
      idleDestination,
      ...memory,
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
}
