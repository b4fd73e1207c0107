// The node agent and its plugin on real network namespaces and iptables (root). Namespaces created here (prefix
// `ambcni<hex>`, removed in teardown): a "pod" netns, a "host" netns standing in for the node's (probe SNAT chain),
// and an "old" pod netns with a process in a `pod<uid>` cgroup (a pod running before the agent, found via /proc).
// The plugin runs as the runtime runs it (child process, CNI env, stdin); the agent serves it on a temp Unix socket.
// The API (live reads, annotations) and ZDS are faked.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CniAgent, PluginEventServer, ProbeSnat, probeChainName, type WorkloadInfo, type WorkloadSink } from '../../src/cni/index.js';
import { run } from '../../src/inpod/exec.js';
import { type NamespaceLike, type Netns, type PodLike, listRules, rulesMatch } from '../../src/inpod/index.js';
import { sh } from './inpod-fixture.js';

const PLUGIN = fileURLToPath(new URL('../../src/cni/plugin/main.js', import.meta.url));
const prefix = `ambcni${randomBytes(3).toString('hex')}`;
const NS = { pod: `${prefix}-pod`, host: `${prefix}-host`, old: `${prefix}-old` };
const netnsPath = (n: string) => `/var/run/netns/${n}`;
const UID1 = `${randomBytes(4).toString('hex')}-aaaa-4bbb-8ccc-0123456789ab`;
const UID2 = `${randomBytes(4).toString('hex')}-dddd-4eee-8fff-0123456789ab`;
const CGROUP = `/sys/fs/cgroup/pids/${prefix}`;
const NODE = `${prefix}-node`;
const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

const pod = (uid: string, name: string, labels: Record<string, string>, ip?: string): PodLike => ({
  metadata: { uid, name, namespace: 'ns1', labels, annotations: {} },
  spec: { nodeName: NODE },
  status: { phase: 'Running', ...(ip ? { podIP: ip } : {}) },
});
const ns1 = (labels: Record<string, string> = {}): NamespaceLike => ({ metadata: { name: 'ns1', labels } });

let sleeper: ChildProcess | undefined;
let tmp = '';

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ambit-cni-it-'));
  for (const n of Object.values(NS)) {
    await sh('ip', ['netns', 'add', n]);
    await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
});

test.after.always(async () => {
  if (sleeper?.pid) {
    const exited = new Promise((r) => sleeper!.once('exit', r));
    sleeper.kill('SIGKILL');
    await exited;
  }
  await run('rmdir', [path.join(CGROUP, `pod${UID2}`)]);
  await run('rmdir', [CGROUP]);
  for (const n of Object.values(NS)) await run('ip', ['netns', 'delete', n]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function runPlugin(cmd: string, env: Record<string, string>, stdin: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLUGIN], { env: { PATH: process.env.PATH ?? '', CNI_COMMAND: cmd, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
    child.stdin.end(stdin);
  });
}

const hostIpt = (args: string[]) => run('nsenter', [`--net=${netnsPath(NS.host)}`, '--', 'iptables', '-w', ...args]);
const iptablesSave = async (n: string) => sh('ip', ['netns', 'exec', n, 'iptables-save']);

test('plugin ADD programs the pod’s netns through the agent; un-enroll, DEL and uninstall clean up', async (t) => {
  let livePod = pod(UID1, 'p1', AMBIENT);
  const zdsLog: string[] = [];
  const inodes: number[] = [];
  const zds: WorkloadSink = {
    connected: true,
    addWorkload: async (info: WorkloadInfo, netns: Netns) => {
      zdsLog.push(`add ${info.name} ${info.ip}`);
      inodes.push(netns.inode);
    },
    removeWorkload: async (uid) => void zdsLog.push(`remove ${uid === UID1 ? 'p1' : uid === UID2 ? 'p2' : uid}`),
  };
  const annotations: string[] = [];
  const lines: string[] = [];
  const snat = new ProbeSnat({ nodeName: NODE, iptables: hostIpt });
  const agent = new CniAgent({
    nodeName: NODE,
    zds,
    probeSnat: snat,
    retryMs: 60_000,
    reader: { pod: async () => livePod, namespace: async () => ns1() },
    annotate: async (namespace, name, value) => void annotations.push(`${namespace}/${name}=${value}`),
    log: { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => undefined },
  });
  const sock = path.join(tmp, 'pluginevent.sock');
  const server = new PluginEventServer({ socketPath: sock, handlers: { onAdd: (ev) => agent.handleAdd(ev), onDel: (ev) => agent.handleDel(ev) } });
  await server.start();
  t.teardown(() => server.stop());
  await agent.start();

  const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: netnsPath(NS.pod) }], ips: [{ address: '10.248.77.5/24', interface: 0 }] };
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'test', type: 'ambit-cni', cni_event_address: sock, kubernetes: { kubeconfig: '/nonexistent', exclude_namespaces: ['kube-system'] }, prevResult: prev });
  const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: netnsPath(NS.pod), CNI_ARGS: `K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;K8S_POD_UID=${UID1}` };

  // ADD: the answer comes after the rules are in.
  const add = await runPlugin('ADD', env, conf);
  t.is(add.code, 0, add.stdout);
  t.deepEqual(JSON.parse(add.stdout), prev);
  const save = await iptablesSave(NS.pod);
  t.true(save.includes('-A OUTPUT -j ISTIO_OUTPUT'), save);
  t.true(save.includes('-j REDIRECT --to-ports 15001'));
  t.true(save.includes('-j REDIRECT --to-ports 15006'));
  t.true(rulesMatch(await listRules(netnsPath(NS.pod))));
  t.deepEqual(zdsLog, ['add p1 10.248.77.5']);
  t.is(inodes[0], fs.statSync(netnsPath(NS.pod)).ino, 'ztunnel got the pod’s own netns');
  t.deepEqual(annotations, ['ns1/p1=enabled']);
  const chain = probeChainName(NODE);
  const hostNat = (await hostIpt(['-t', 'nat', '-S'])).stdout;
  t.true(hostNat.includes(`-A POSTROUTING -j ${chain}`), hostNat);
  t.regex(hostNat, new RegExp(`-A ${chain} -d 10\\.248\\.77\\.5/32 -p tcp -m owner --socket-exists -m comment --comment "?pod=${UID1}"? -j SNAT --to-source 169\\.254\\.7\\.127`));
  // A pod gone while the agent was down leaves a rule behind: pruned on start, the enrolled pod's rule kept.
  await hostIpt(['-t', 'nat', '-A', chain, '-d', '10.248.77.99/32', '-p', 'tcp', '-m', 'owner', '--socket-exists', '-m', 'comment', '--comment', 'pod=gone', '-j', 'SNAT', '--to-source', '169.254.7.127']);
  t.deepEqual((await snat.entries()).map((e) => e.uid).sort(), [UID1, 'gone'].sort());
  await snat.prune([UID1]);
  t.deepEqual(await snat.entries(), [{ uid: UID1, ip: '10.248.77.5' }]);

  // Un-enroll (the pod's label removed, seen by the informer): rules, probe rule and annotation go; ztunnel is told.
  livePod = { ...pod(UID1, 'p1', {}, '10.248.77.5'), metadata: { ...pod(UID1, 'p1', {}).metadata, annotations: { 'ambient.istio.io/redirection': 'enabled' } } };
  agent.nodeAgent.podUpserted(livePod);
  await agent.nodeAgent.whenIdle();
  t.false((await iptablesSave(NS.pod)).includes('ISTIO_'), 'no in-pod rules left');
  t.false((await hostIpt(['-t', 'nat', '-S', chain])).stdout.includes('10.248.77.5'));
  t.deepEqual(zdsLog, ['add p1 10.248.77.5', 'remove p1']);
  t.deepEqual(annotations, ['ns1/p1=enabled', 'ns1/p1=null']);

  // Back in ambient through a new ADD, then DEL: the plugin succeeds, ztunnel drops the pod.
  livePod = pod(UID1, 'p1', AMBIENT);
  t.is((await runPlugin('ADD', env, conf)).code, 0);
  t.true((await iptablesSave(NS.pod)).includes('ISTIO_OUTPUT'));
  const del = await runPlugin('DEL', env, JSON.stringify({ ...JSON.parse(conf), prevResult: undefined }));
  t.deepEqual(del, { code: 0, stdout: '' });
  t.deepEqual(zdsLog.slice(-2), ['add p1 10.248.77.5', 'remove p1']);

  // A pod that was running before the agent (no ADD seen): found from /proc through its pod<uid> cgroup.
  fs.mkdirSync(path.join(CGROUP, `pod${UID2}`), { recursive: true });
  sleeper = spawn('ip', ['netns', 'exec', NS.old, 'sleep', '600'], { stdio: 'ignore' });
  await new Promise((r) => sleeper!.once('spawn', r));
  for (let i = 0; i < 100 && fs.readlinkSync(`/proc/${sleeper.pid}/ns/net`) === fs.readlinkSync('/proc/self/ns/net'); i++) await new Promise((r) => setTimeout(r, 20));
  fs.writeFileSync(path.join(CGROUP, `pod${UID2}`, 'cgroup.procs'), String(sleeper.pid));
  agent.nodeAgent.podUpserted(pod(UID2, 'p2', AMBIENT, '10.248.77.6'));
  await agent.nodeAgent.whenIdle();
  t.true((await iptablesSave(NS.old)).includes('-A OUTPUT -j ISTIO_OUTPUT'));
  t.is(inodes.at(-1), fs.statSync(netnsPath(NS.old)).ino, 'the netns found via /proc is the pod’s');
  t.deepEqual(agent.nodeAgent.enrolled().find((p) => p.uid === UID2)?.netnsPath, `/proc/${sleeper.pid}/ns/net`);

  // Uninstall: every pod un-enrolled, the probe chain and its jump gone from the host.
  await agent.stop({ uninstall: true });
  t.false((await iptablesSave(NS.old)).includes('ISTIO_'));
  const after = (await hostIpt(['-t', 'nat', '-S'])).stdout;
  t.false(after.includes(chain), after);
  t.false(lines.some((l) => l.includes('failed')), lines.join('\n'));
});
