// The shared-mode configuration: the source and destination ztunnels run as the DaemonSet runs them (main.js,
// PROXY_MODE=shared, NODE_NAME, CA_ADDRESS, ZDS_SOCKET; one "node" each). The bench plays the node agent: it
// creates a client and a server pod netns, hands each to its node's ztunnel over ZDS (the netns fd) and then
// programs the pod's in-pod redirection rules, as the agent does. The client in the client pod connects to the
// server pod's address and is captured transparently; the direct path is the same veth path measured before the
// pods are enrolled. Needs root (netns, iptables, setns).
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CertificateAuthority } from '@ambit/mesh-api';
import { Netns, applyRules, connectInNetns } from '../src/inpod/index.js';
import { ZdsServer } from '../src/zds/index.js';
import { startCa, type BenchCa } from './ca.js';
import { BYTES, WARM_SECONDS, cpuSeconds, fortioLoad, fortioPath, holdConnections, measureHeld, nodeLoad, rssKb, sleep, throughput, ZTUNNEL_BENCH_NODE_OPTIONS, type Dial, type Figures } from './measure.js';
import { createPods, type BenchPod, type BenchPods } from './pods.js';

const here = dirname(fileURLToPath(import.meta.url));
const mainJs = join(here, '..', 'src', 'main.js');
const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

/** Why shared mode cannot run here, or undefined. */
export function sharedModeUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'shared mode skipped: it needs root (network namespaces, iptables, setns); run `npm run bench` as root';
  for (const [cmd, arg] of [['ip', '-V'], ['iptables-restore', '--version'], ['nsenter', '--version']] as const) {
    try {
      execFileSync(cmd, [arg], { stdio: 'ignore' });
    } catch {
      return `shared mode skipped: \`${cmd}\` is not on PATH (scripts/ensure-tools.sh installs iproute2, iptables and util-linux)`;
    }
  }
  return undefined;
}

/** A process started inside a pod's netns (`ip netns exec`), with an IPC channel. */
function inPod(pod: BenchPod, script: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', pod.name, process.execPath, join(here, script), ...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}
const ready = (c: ChildProcess) =>
  new Promise<void>((resolve, reject) => {
    c.once('message', () => resolve());
    c.once('exit', (code) => reject(new Error(`${c.spawnargs.slice(4).join(' ')} exited ${code}`)));
  });

function startZtunnel(env: Record<string, string>): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = fork(mainJs, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { PATH: process.env.PATH ?? '', ZTUNNEL_LOG_LEVEL: 'warn', NODE_OPTIONS: ZTUNNEL_BENCH_NODE_OPTIONS, ...env } });
    let err = '';
    c.stderr?.on('data', (d) => (err = (err + d).slice(-2000)));
    c.once('message', () => resolve(c));
    c.once('exit', (code) => reject(new Error(`shared-mode ztunnel exited ${code}: ${err}`)));
  });
}

export async function runShared(dir: string, ca: CertificateAuthority, leaf: string[]): Promise<Figures> {
  const procs: ChildProcess[] = [];
  const zds: ZdsServer[] = [];
  const netns: Netns[] = [];
  let benchCa: BenchCa | undefined;
  let pods: BenchPods | undefined;
  try {
    pods = createPods();
    const { client, server } = pods;
    const clientNs = Netns.open(client.path);
    const serverNs = Netns.open(server.path);
    netns.push(clientNs, serverNs);
    // The app is a process of the client pod: its sockets are made in that netns (without ztunnel's mark, so the
    // pod's rules capture them once it is enrolled).
    const dial: Dial = (host, port) => connectInNetns(clientNs, host, port, { mark: 0 });

    const apps = inPod(server, 'apps.js', [server.ip]);
    procs.push(apps);
    await ready(apps);

    const fortio = fortioPath();
    const load = (port: number, seconds?: number) =>
      fortio
        ? fortioLoad(fortio, `http://${server.ip}:${port}/`, join(dir, `fortio-shared-${Date.now()}.json`), ['ip', 'netns', 'exec', client.name], seconds)
        : nodeLoad(server.ip, port, seconds, dial);

    // The direct path first: the same pods and veths, not enrolled yet (no rules, no ztunnel).
    const direct = await load(8080);
    const tputDirect = await throughput(() => dial(server.ip, 9000), BYTES);
    // The two-process TLS pipe between the same pods: encrypt in the client pod, decrypt in the server pod.
    const decrypt = inPod(server, 'tlspipe.js', ['decrypt', server.ip, '7443', server.ip, '9000', ...leaf]);
    const encrypt = inPod(client, 'tlspipe.js', ['encrypt', client.ip, '7442', server.ip, '7443', ...leaf]);
    procs.push(decrypt, encrypt);
    await Promise.all([ready(decrypt), ready(encrypt)]);
    const tputPipe = await throughput(() => dial(client.ip, 7442), BYTES);
    decrypt.kill('SIGKILL');
    encrypt.kill('SIGKILL');

    // The control plane as the ztunnels see it: the CA (bench-played, loopback), the model from a local file.
    const token = randomBytes(16).toString('hex');
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    writeFileSync(join(dir, 'root-cert.pem'), ca.certPem);
    benchCa = await startCa(ca, token);
    const uid = (name: string) => `Kubernetes//Pod/bench/${name}`;
    const mesh = {
      workloads: [
        { uid: uid('client'), name: 'client', namespace: 'bench', serviceAccount: 'client', workloadIps: [client.ip], protocol: 'HBONE' },
        { uid: uid('server'), name: 'server', namespace: 'bench', serviceAccount: 'server', workloadIps: [server.ip], protocol: 'HBONE' },
      ],
      services: [],
      policies: [{ name: 'allow-bench', namespace: 'bench', scope: 'Namespace', action: 'Allow', dryRun: false, rules: [[[{ namespaces: [{ Exact: 'bench' }] }]]] }],
    };
    writeFileSync(join(dir, 'mesh-shared.yaml'), JSON.stringify(mesh));

    // One node agent socket per "node"; each ztunnel as the DaemonSet starts it.
    const node = async (name: string) => {
      const socketPath = join(dir, `zds-${name}.sock`);
      const agent = new ZdsServer({ socketPath, log: quiet });
      zds.push(agent);
      await agent.start();
      const zt = await startZtunnel({
        PROXY_MODE: 'shared',
        NODE_NAME: `bench-${name}`,
        POD_NAME: `ztunnel-${name}`,
        POD_NAMESPACE: 'istio-system',
        ZDS_SOCKET: socketPath,
        CA_ADDRESS: benchCa!.address,
        ROOT_CERT_PATH: join(dir, 'root-cert.pem'),
        TOKEN_PATH: join(dir, 'token'),
        LOCAL_XDS_PATH: join(dir, 'mesh-shared.yaml'),
        // Admin, readiness and stats servers on, as in the DaemonSet (on loopback, any free port: two "nodes" share
        // this host).
        ADMIN_ADDR: '127.0.0.1:0',
        READINESS_ADDR: '127.0.0.1:0',
        STATS_ADDR: '127.0.0.1:0',
      });
      procs.push(zt);
      return { agent, zt };
    };
    const src = await node('source');
    const dst = await node('destination');
    // Enrolment as the node agent does it: ZDS add (acked once the in-pod listeners are up), then the rules.
    await dst.agent.addWorkload({ uid: 'bench-server-uid', name: 'server', namespace: 'bench', serviceAccount: 'server', ip: server.ip }, serverNs);
    await applyRules(server.path);
    await src.agent.addWorkload({ uid: 'bench-client-uid', name: 'client', namespace: 'bench', serviceAccount: 'client', ip: client.ip }, clientNs);
    await applyRules(client.path);
    await sleep(300);
    const za = src.zt;
    const zb = dst.zt;
    const idleSource = rssKb(za.pid!);
    const idleDestination = rssKb(zb.pid!);

    const warm = await load(8080, WARM_SECONDS);
    if (warm.errors > 0 || warm.count === 0) console.log(`  shared warm-up: ${warm.count} ok, ${warm.errors} errors`);
    const cpu0 = [cpuSeconds(za.pid!), cpuSeconds(zb.pid!)];
    const t0 = performance.now();
    const meshLat = await load(8080);
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = [cpuSeconds(za.pid!), cpuSeconds(zb.pid!)];
    const rps = meshLat.count / secs;
    const per1000 = (i: number) => ((cpu1[i]! - cpu0[i]!) / secs) * (1000 / rps);

    const tputMesh = await throughput(() => dial(server.ip, 9000), BYTES);

    const memory = await measureHeld([za.pid!, zb.pid!], apps, () => holdConnections(server.ip, 9001, dial));
    return {
      label: 'shared',
      mesh: meshLat,
      direct,
      rps,
      cpuSource: per1000(0),
      cpuDestination: per1000(1),
      tputMesh,
      tputPipe,
      tputDirect,
      idleNote: 'fresh processes, one pod enrolled over ZDS each (certificate fetched, in-pod listeners up), admin/readiness/stats servers on, before any load',
      idleSource,
      idleDestination,
      ...memory,
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    for (const s of zds) await s.stop().catch(() => undefined);
    for (const n of netns) n.close();
    await benchCa?.close();
    pods?.destroy();
  }
}

/** RSS that importing @kubernetes/client-node alone adds to a bare node process (`node -e`), in KB. */
export function clientNodeImportKb(): number | string {
  const script =
    "const a = process.memoryUsage().rss; await import('@kubernetes/client-node'); const b = process.memoryUsage().rss; console.log(JSON.stringify({ a, b }));";
  try {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(here, '..'), stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const { a, b } = JSON.parse(out) as { a: number; b: number };
    return (b - a) / 1024;
  } catch (e) {
    return `could not import @kubernetes/client-node: ${(e as Error).message.split('\n')[0]}`;
  }
}
