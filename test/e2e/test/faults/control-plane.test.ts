// The fault suite, control plane: the mesh's data path never needs the controller or the API server to keep
// serving, and once they are back the mesh converges. Each test states its promise in its title and checks it with
// a prober pod's record (a request every 0.25 s, read back afterwards). Root; the shared cluster (AMBIT_KUBECONFIG).
import { readFileSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { MeshFixture, repoRoot, serverManifest } from '@ambit/cluster';
import { describeFailures, proberManifest, probes, sleepMs } from './prober.js';

const ns = MeshFixture.namespace('faults-cp');
const NODE = 'ambit-node-1';
let f: MeshFixture;

const policy = (name: string, principal: string) => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: server}}
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/${ns}/sa/${principal}"]}}]}]
`;

/** What `kubectl exec deploy/<client> -- curl` shows: the code, or `exit N` when curl failed (56: reset by policy). */
async function outcome(client: string): Promise<string> {
  const r = await f.curl(client);
  return r.code === 0 ? r.stdout : `exit ${/command terminated with exit code (\d+)/.exec(r.stderr)?.[1] ?? r.code}`;
}

async function pids(exe: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (await readlink(`/proc/${d}/exe`).then((l) => l === exe, () => false)) out.push(Number(d));
  }
  return out;
}

test.before(async () => {
  f = await MeshFixture.open(ns);
  // Pods enrolled as they start (the namespace is labelled first): enrolling running pods is the integration
  // tests' subject, and a fault test must start from a mesh that serves.
  await f.must(['label', 'namespace', ns, 'istio.io/dataplane-mode=ambient']);
  await f.must(['apply', '-n', ns, '-f', '-'], serverManifest({ node: NODE }));
  for (const file of ['sleep.yaml', 'notsleep.yaml']) await f.must(['apply', '-n', ns, '-f', '-'], readFileSync(join(repoRoot, 'samples', 'manifests', file), 'utf8'));
  await f.must(['apply', '-n', ns, '-f', '-'], proberManifest('http://server/', 'ambit-node-2'));
  await f.must(['wait', '-n', ns, '--for=condition=Available', 'deployment', '--all', '--timeout=180s']);
  await f.eventually('every pod enrolled', async () => (await f.redirected()).every(Boolean) && (await outcome('sleep')) === '200', 120_000);
  // The prober's last 8 requests (2 s) all answered before any fault is injected.
  await f.eventually('the prober served', async () => {
    const last = (await probes(f, 0, Date.now())).slice(-8);
    return last.length === 8 && last.every((p) => p.code === '200');
  }, 120_000);
});

test.after.always(async () => {
  await f?.close();
});

test.serial('controller killed during a push: no request lost meanwhile; the policy it was pushing applies once a new controller is up', async (t) => {
  const start = Date.now();
  await f.must(['apply', '-f', '-'], policy('only-sleep', 'sleep'));
  await f.must(['delete', 'pod', '-n', 'istio-system', '-l', 'app=istiod', '--grace-period=0', '--force', '--wait=false']);
  await f.must(['rollout', 'status', '-n', 'istio-system', 'deployment/istiod', '--timeout=180s']);
  // Enforced after the restart (if the first controller pushed it before dying, this is immediate).
  const denied = await f.eventually('notsleep reset by the policy', async () => ((await outcome('notsleep')) === 'exit 56' ? 'exit 56' : undefined), 90_000);
  t.is(denied, 'exit 56');
  t.is(await outcome('sleep'), '200');
  await sleepMs(1000);
  // The prober's account is not allowed by the policy: it is served until the policy takes hold (which may be
  // within the first probe), denied after. The record starts 2 s before the policy, when it was served.
  const record = await probes(f, start - 2000, Date.now());
  t.true(record.length > 10, `${record.length} probes`);
  t.true(record.slice(0, 4).every((p) => p.code === '200'), 'the prober was served before the policy');
  // Every request before the first denial was answered: the restart itself lost none.
  const firstDenied = record.findIndex((p) => p.code !== '200');
  const after = firstDenied < 0 ? [] : record.slice(firstDenied);
  t.deepEqual(after.filter((p) => p.code === '200'), [], 'once denied, the prober stays denied (no flapping back to the old config)');
  await f.must(['delete', 'authorizationpolicy', '-n', ns, 'only-sleep']);
  await f.eventually('notsleep allowed again', async () => (await outcome('notsleep')) === '200', 90_000);
});

test.serial('API server restarted: no request lost while it is down; afterwards a new policy is enforced (watches recovered)', async (t) => {
  const exe = join(f.cluster.binDir, 'kube-apiserver');
  const before = await pids(exe);
  t.is(before.length, 1, `one kube-apiserver running (${exe})`);
  const start = Date.now();
  await sleepMs(2000);
  process.kill(before[0]!, 'SIGKILL');
  // The cluster's supervisor starts it again, as the kubelet restarts a static pod.
  await f.eventually('kube-apiserver answering again', async () => (await f.kubectl(['get', '--raw', '/readyz'])).stdout === 'ok', 120_000);
  const after = await pids(exe);
  t.true(after.length === 1 && after[0] !== before[0], 'a new kube-apiserver process');
  await sleepMs(3000);
  const record = await probes(f, start, Date.now());
  t.true(record.length > 10, `${record.length} probes`);
  t.deepEqual(describeFailures(record), '', 'every request during the outage answered 200');
  // The controller's watches came back: a policy applied now reaches the ztunnels.
  await f.must(['apply', '-f', '-'], policy('only-sleep-2', 'sleep'));
  t.is(await f.eventually('notsleep reset by the new policy', async () => ((await outcome('notsleep')) === 'exit 56' ? 'exit 56' : undefined), 120_000), 'exit 56');
  await f.must(['delete', 'authorizationpolicy', '-n', ns, 'only-sleep-2']);
  await f.eventually('notsleep allowed again', async () => (await outcome('notsleep')) === '200', 90_000);
});

test.serial('CA unavailable across a renewal: no request lost, the certificate is renewed once the CA is back, before it expires', async (t) => {
  // Short certificates (Istio's SECRET_TTL): 180 s, so renewal (at half of the validity) falls in the test.
  await f.must(['set', 'env', '-n', 'istio-system', 'daemonset/ztunnel', 'SECRET_TTL_SECONDS=180']);
  t.teardown(async () => {
    await f.kubectl(['scale', '-n', 'istio-system', 'deployment/istiod', '--replicas=1']);
    await f.kubectl(['set', 'env', '-n', 'istio-system', 'daemonset/ztunnel', 'SECRET_TTL_SECONDS-']);
    await f.kubectl(['rollout', 'status', '-n', 'istio-system', 'daemonset/ztunnel', '--timeout=180s']);
  });
  await f.must(['rollout', 'status', '-n', 'istio-system', 'daemonset/ztunnel', '--timeout=180s']);
  const identity = `spiffe://cluster.local/ns/${ns}/sa/server`;
  const leaf = async () => {
    const out = await f.ambit(['ztunnel-config', 'certificates', '--node', NODE]);
    const row = out.split('\n').find((l) => l.startsWith(identity) && /\bLeaf\b/.test(l));
    if (!row) return undefined;
    const cols = row.trim().split(/\s+/);
    return { serial: cols[4]!, notAfter: new Date(cols[5]!).getTime(), notBefore: new Date(cols[6]!).getTime() };
  };
  await f.eventually('server enrolled in the new ztunnel', async () => (await outcome('sleep')) === '200', 120_000);
  const first = await f.eventually('a short certificate for the server', async () => {
    const l = await leaf();
    return l && l.notAfter - Date.now() < 200_000 ? l : undefined;
  }, 60_000);
  const renewalDue = first.notBefore + (first.notAfter - first.notBefore) / 2;
  // The CA (and the config stream: one process, as istiod) goes down a little before the renewal is due.
  await sleepMs(Math.max(0, renewalDue - Date.now() - 10_000));
  const start = Date.now();
  await f.must(['scale', '-n', 'istio-system', 'deployment/istiod', '--replicas=0']);
  await f.eventually('no controller pod', async () => (await f.must(['get', 'pods', '-n', 'istio-system', '-l', 'app=istiod', '-o', 'name'])).trim() === '', 60_000);
  await sleepMs(Math.max(0, renewalDue - Date.now() + 25_000)); // down across the renewal, back well before expiry
  t.true(Date.now() < first.notAfter - 30_000, 'the outage ends before the certificate would expire');
  await f.must(['scale', '-n', 'istio-system', 'deployment/istiod', '--replicas=1']);
  await f.must(['rollout', 'status', '-n', 'istio-system', 'deployment/istiod', '--timeout=180s']);
  const renewed = await f.eventually('a renewed certificate', async () => {
    const l = await leaf();
    return l && l.serial !== first.serial ? l : undefined;
  }, 120_000);
  t.true(renewed.notAfter > first.notAfter);
  t.true(Date.now() < first.notAfter, 'renewed before the old certificate expired');
  const logs = await f.ztunnelLogs();
  t.true(logs.includes(`failed to fetch certificate for ${identity}`), 'the renewal was tried while the CA was down');
  t.false(logs.includes(`certificate for ${identity} expired`), 'it never expired');
  const record = await probes(f, start, Date.now());
  t.true(record.length > 20, `${record.length} probes`);
  t.deepEqual(describeFailures(record), '', 'every request during the CA outage answered 200');
});
