// Integration (root, shared cluster from AMBIT_KUBECONFIG): the node agent's own lifecycle. The test runs an
// extra, tainted virtual node of its own (so nothing else lands on it), binds a pod to it, then checks that a
// restarted agent cleans what a killed one left behind and runs the pod afresh, and that SIGTERM tears every pod
// down (processes, network namespace, host mount points) and exits 0.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from '../../src/index.js';
import { alive, eventually, kubectlOk, netnsPids, sharedCluster } from './helpers.js';

const agentMain = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'node', 'main.js');
const suffix = randomBytes(3).toString('hex');
const nodeName = `it-agent-${suffix}`;
const ns = `node-agent-${suffix}`;
const hostMountPoint = `/etc/ambit-it-${suffix}`;
let cluster: Cluster;
let stateDir: string;
let configPath: string;

const ok = (args: string[], input?: string) => kubectlOk(cluster, args, input, 60_000);

function startAgent(): { proc: ChildProcess; ready: Promise<void>; exited: Promise<number | null>; output: () => string } {
  const proc = spawn(process.execPath, ['--enable-source-maps', agentMain, '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').some((l) => l.trim() === `node ${nodeName} ready`)) resolve();
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => reject(new Error(`agent exited early (${code}):\n${out}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, ready, exited, output: () => out };
}

async function pod(): Promise<V1Pod> {
  return JSON.parse(await ok(['-n', ns, 'get', 'pod', 'sleeper', '-o', 'json'])) as V1Pod;
}

test.before(async () => {
  cluster = await sharedCluster();
  stateDir = mkdtempSync(join(tmpdir(), 'ambit-node-agent-'));
  configPath = join(stateDir, 'node.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      name: nodeName,
      kubeconfigPath: process.env.AMBIT_KUBECONFIG,
      address: '127.0.1.250',
      kubeletPort: 20000 + Math.floor(Math.random() * 10000),
      // No certificate: this node serves no exec/logs (the agent says so and carries on).
      tls: { certFile: join(stateDir, 'none.crt'), keyFile: join(stateDir, 'none.key'), caFile: join(stateDir, 'none.ca') },
      bridge: 'ambit0',
      gateway: '10.244.0.1',
      clusterDNS: '10.96.0.10',
      clusterDomain: 'cluster.local',
      stateDir: join(stateDir, 'state'),
      binDir: cluster.binDir,
      taints: [{ key: 'ambit.dev/node-agent-test', effect: 'NoSchedule' }],
    }),
  );
});

test.after.always(async () => {
  if (!cluster) return;
  await cluster.kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  await cluster.kubectl(['delete', 'node', nodeName, '--ignore-not-found']);
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

test('a restarted agent cleans up after a killed one; SIGTERM tears every pod down and exits 0', async (t) => {
  const first = startAgent();
  await first.ready;
  const node = JSON.parse(await ok(['get', 'node', nodeName, '-o', 'json'])) as { spec: { podCIDR?: string; taints?: unknown[] }; metadata: { labels: Record<string, string> } };
  t.regex(node.spec.podCIDR ?? '', /^10\.244\.\d+\.0\/24$/);
  t.is(node.metadata.labels['kubernetes.io/hostname'], nodeName);

  await ok(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: ${ns}}
data: {hello: world}
---
apiVersion: v1
kind: Pod
metadata: {name: sleeper, namespace: ${ns}}
spec:
  nodeName: ${nodeName}
  tolerations: [{key: ambit.dev/node-agent-test, operator: Exists}]
  terminationGracePeriodSeconds: 2
  containers:
  - name: sleep
    image: busybox
    command: ["/bin/sleep", "infinity"]
    volumeMounts: [{name: cfg, mountPath: ${hostMountPoint}}]
  volumes: [{name: cfg, configMap: {name: cfg}}]
`,
  );
  const running = await eventually('pod running', async () => {
    const p = await pod();
    return p.status?.containerStatuses?.[0]?.state?.running && p;
  });
  const uid = running.metadata!.uid!;
  const netns = `ambit-${uid}`;
  const firstContainer = running.status!.containerStatuses![0]!.containerID;
  const oldPids = await eventually('processes in the pod netns', () => {
    const pids = netnsPids(netns);
    return pids.length > 0 && pids;
  });
  t.true(existsSync(hostMountPoint), 'the mount point exists on the host while the pod runs');
  t.regex(first.output(), new RegExp(`pod ${ns}/sleeper started container sleep pid=\\d+ ip=10\\.244\\.`));

  // A crash of the agent leaves the pod's processes behind...
  first.proc.kill('SIGKILL');
  await first.exited;
  t.true(oldPids.every(alive));

  // ...which the next agent removes before running the pod again from scratch.
  const second = startAgent();
  await second.ready;
  await eventually('old processes killed', () => oldPids.every((pid) => !alive(pid)), 30_000);
  const again = await eventually('pod running again', async () => {
    const p = await pod();
    const s = p.status?.containerStatuses?.[0];
    return s?.state?.running && s.containerID !== firstContainer && p;
  });
  t.is(again.metadata!.uid, uid);
  t.is(again.status!.containerStatuses![0]!.restartCount, 0);
  t.regex(second.output(), /cleaned leftovers of pod/);
  const newPids = await eventually('new processes', () => {
    const pids = netnsPids(netns);
    return pids.length > 0 && pids;
  });

  // SIGTERM: every pod goes (processes, netns, mount points, state), exit code 0. The Pod object stays bound.
  second.proc.kill('SIGTERM');
  t.is(await second.exited, 0);
  t.true(newPids.every((pid) => !alive(pid)));
  t.false(existsSync(`/var/run/netns/${netns}`));
  t.false(existsSync(`/etc/netns/${netns}`));
  t.false(existsSync(hostMountPoint), 'the mount point the agent created is removed');
  t.deepEqual(readdirSync(join(stateDir, 'state', 'pods')), []);
  t.regex(second.output(), new RegExp(`pod ${ns}/sleeper stopping \\(node agent shutting down\\)`));
  t.is((await pod()).metadata?.uid, uid);
});
