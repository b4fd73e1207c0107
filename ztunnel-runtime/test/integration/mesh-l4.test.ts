// Steps 3 and 4 of the walkthrough on the local cluster, with ztunnel running as the DaemonSet `ambit install`
// deploys: a server and the sleep/notsleep curl clients in a namespace of their own; labelling the namespace
// `istio.io/dataplane-mode=ambient` enrols the pods without restarts, traffic becomes mutual TLS (access log,
// metrics), an L4 AuthorizationPolicy resets notsleep (curl exit 56) while sleep still works, and removing the label
// takes the pods out again (annotation and in-pod rules gone, plain traffic works).
// Runs on the shared cluster named by AMBIT_KUBECONFIG, else on a cluster of its own. Root.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { MeshFixture, execFileAsync as exec, repoRoot as repo, serverManifest, sleep } from '@ambit/cluster';
import { podNetnsPath } from '@ambit/cluster';

const ns = MeshFixture.namespace('zt-l4');
const POLICY = 'server-viewer';

const policyYaml = `
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: ${POLICY}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: server}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/${ns}/sa/sleep"]
`;

interface PodInfo {
  name: string;
  uid: string;
  app: string;
  ip: string;
  node: string;
  restarts: number;
  annotations: Record<string, string>;
}

let f: MeshFixture;
let before: PodInfo[] = [];

const kubectl = (args: string[], input?: string) => f.kubectl(args, input);
const must = (args: string[], input?: string) => f.must(args, input);
const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number) => f.eventually(what, fn, timeoutMs);
const curl = (client: string, url?: string) => f.curl(client, url);
const ztunnelLogs = () => f.ztunnelLogs();
const ztunnelPods = () => f.ztunnelPods();

async function pods(): Promise<PodInfo[]> {
  const list = JSON.parse(await must(['get', 'pods', '-n', ns, '-o', 'json'])) as {
    items: {
      metadata: { name: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: { nodeName?: string };
      status: { podIP?: string; containerStatuses?: { restartCount: number }[] };
    }[];
  };
  return list.items
    .map((p) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      app: p.metadata.labels?.app ?? '',
      ip: p.status.podIP ?? '',
      node: p.spec.nodeName ?? '',
      restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      annotations: p.metadata.annotations ?? {},
    }))
    .sort((a, b) => a.app.localeCompare(b.app));
}

async function inpodRules(uid: string): Promise<string[]> {
  // The pod's netns as the machine sees it on a real node (through the pod's cgroup and one of its processes).
  const { stdout } = await exec('nsenter', [`--net=${await podNetnsPath(uid)}`, 'iptables-save']);
  return stdout.split('\n').filter((l) => l.includes('ISTIO_'));
}

test.before(async () => {
  f = await MeshFixture.open(ns);
  await must(['apply', '-n', ns, '-f', '-'], serverManifest());
  for (const file of ['sleep.yaml', 'notsleep.yaml']) await must(['apply', '-n', ns, '-f', '-'], readFileSync(join(repo, 'samples', 'manifests', file), 'utf8'));
  await must(['wait', '-n', ns, '--for=condition=available', 'deployment', '--all', '--timeout=120s']);
  before = await pods();
});

test.after.always(async () => {
  await f?.close();
});

test.serial('ztunnel runs on every node as a DaemonSet and is ready', async (t) => {
  const nodes = (await must(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).split(/\s+/).filter(Boolean);
  const zt = await ztunnelPods();
  t.deepEqual(zt.map((p) => p.node).sort(), nodes.sort());
  const logs = await ztunnelLogs();
  t.regex(logs, /running with config: proxyMode: Shared/);
  for (const p of zt) {
    const res = await fetch(`http://${p.ip}:15021/healthz/ready`);
    t.is(res.status, 200, `${p.name} ready`);
  }
});

test.serial('before the mesh: plain traffic from both clients', async (t) => {
  t.deepEqual(
    before.map((p) => p.app),
    ['notsleep', 'server', 'sleep'],
  );
  for (const c of ['sleep', 'notsleep']) {
    const r = await curl(c);
    t.is(r.stdout, '200', `${c}: ${r.stderr}`);
  }
});

test.serial('labelling the namespace enrols the pods without restarts; traffic is mutual TLS', async (t) => {
  await must(['label', 'namespace', ns, 'istio.io/dataplane-mode=ambient']);
  // Every pod annotated by its node's ztunnel.
  const after = await eventually('redirection annotation on every pod', async () => {
    const ps = await pods();
    return ps.every((p) => p.annotations['ambient.istio.io/redirection'] === 'enabled') && ps;
  });
  t.deepEqual(
    after.map((p) => [p.name, p.uid, p.restarts]),
    before.map((p) => [p.name, p.uid, 0]),
    'same pods, never restarted',
  );
  const logs = await ztunnelLogs();
  for (const p of before) {
    t.true(logs.includes(`pod received, starting proxy uid=${p.uid} name=${p.name} namespace=${ns}`), `starting proxy for ${p.name}`);
    t.true((await inpodRules(p.uid)).length > 0, `in-pod rules in ${p.name}`);
  }

  // Traffic keeps working and is now HBONE: the destination's ztunnel logs the client's SPIFFE identity.
  const identity = `src.identity="spiffe://cluster.local/ns/${ns}/sa/sleep"`;
  const line = await eventually('access log line with the sleep identity', async () => {
    const r = await curl('sleep');
    if (r.stdout !== '200') throw new Error(`curl from sleep: ${r.stdout} ${r.stderr}`);
    return (await ztunnelLogs()).split('\n').find((l) => l.includes('\taccess\tconnection complete') && l.includes(identity) && l.includes('direction="inbound"'));
  });
  const server = before.find((p) => p.app === 'server')!;
  t.regex(line, new RegExp(`dst\\.addr=${server.ip.replace(/\./g, '\\.')}:15008 dst\\.hbone_addr=${server.ip.replace(/\./g, '\\.')}:8080`));
  t.regex(line, new RegExp(`dst\\.identity="spiffe://cluster\\.local/ns/${ns}/sa/server"`));
  // The app still sees its real client (ztunnel connects from the client's IP), not its own address: python's
  // http.server logs `<client ip> - - [...] "GET / HTTP/1.1" 200 -` for every request.
  const sleepPod = before.find((p) => p.app === 'sleep')!;
  const served = (await must(['logs', '-n', ns, 'deploy/server'])).split('\n').filter((l) => l.includes('"GET / HTTP/1.1" 200'));
  t.true(served.length > 0);
  t.true(served.at(-1)!.startsWith(`${sleepPod.ip} - - `), served.at(-1));
  const r = await curl('notsleep');
  t.is(r.stdout, '200');

  // Metrics of the server's node ztunnel (reporter destination) and the client's (reporter source).
  const zt = await ztunnelPods();
  const metrics = (await Promise.all(zt.map(async (p) => (await fetch(`http://${p.ip}:15020/metrics`)).text()))).join('\n');
  const opened = metrics.split('\n').filter((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes(`source_principal="spiffe://cluster.local/ns/${ns}/sa/sleep"`));
  t.true(opened.some((l) => l.includes('reporter="destination"') && l.includes('connection_security_policy="mutual_tls"')), opened.join('\n'));
  t.true(opened.some((l) => l.includes('reporter="source"') && l.includes('connection_security_policy="mutual_tls"')), opened.join('\n'));
});

test.serial('a restarted ztunnel drains on SIGTERM and its successor picks the pods up again, without pod restarts', async (t) => {
  const server = before.find((p) => p.app === 'server')!;
  const old = (await ztunnelPods()).find((p) => p.node === server.node)!;
  // Follow the old pod's log until it is gone, to see the drain.
  const follow = spawn(join(f.cluster.binDir, 'kubectl'), ['logs', '-f', '-n', 'istio-system', old.name], {
    env: { ...process.env, KUBECONFIG: f.cluster.kubeconfigPath },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let oldLog = '';
  follow.stdout.on('data', (c: Buffer) => (oldLog += c.toString()));
  const followed = new Promise<void>((r) => follow.once('close', () => r()));
  await eventually('old ztunnel log followed', async () => oldLog.includes('running with config'));
  await must(['delete', 'pod', '-n', 'istio-system', old.name, '--wait=true']);
  await Promise.race([followed, sleep(10_000)]);
  follow.kill();
  t.regex(oldLog, /received SIGTERM, draining/);
  t.regex(oldLog, /\tztunnel\tstopped/);
  await must(['rollout', 'status', '-n', 'istio-system', 'daemonset/ztunnel', '--timeout=120s']);
  const successor = await eventually('new ztunnel on the server node', async () => (await ztunnelPods()).find((p) => p.node === server.node && p.name !== old.name));
  await eventually('server pod picked up again', async () =>
    (await must(['logs', '-n', 'istio-system', successor.name])).includes(`pod received, starting proxy uid=${server.uid} name=${server.name} namespace=${ns}`),
  );
  const r = await eventually('sleep reaches the server again', async () => {
    const c = await curl('sleep');
    return c.stdout === '200' && c;
  });
  t.is(r.stdout, '200');
  const logs = await must(['logs', '-n', 'istio-system', successor.name]);
  t.true(logs.split('\n').some((l) => l.includes('\taccess\tconnection complete') && l.includes(`src.identity="spiffe://cluster.local/ns/${ns}/sa/sleep"`) && l.includes('direction="inbound"')));
  t.deepEqual(
    (await pods()).map((p) => [p.name, p.uid, p.restarts]),
    before.map((p) => [p.name, p.uid, 0]),
  );
});

test.serial('`kubectl rollout restart daemonset/ztunnel` hands the pods over without refusing a connection', async (t) => {
  const server = before.find((p) => p.app === 'server')!;
  const old = new Set((await ztunnelPods()).map((p) => p.name));
  await must(['rollout', 'restart', '-n', 'istio-system', 'daemonset/ztunnel']);
  // Requests all through the rollout: the new ztunnel binds next to the old one before the old one drains.
  const codes: string[] = [];
  const rollout = must(['rollout', 'status', '-n', 'istio-system', 'daemonset/ztunnel', '--timeout=180s']);
  let done = false;
  void rollout.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    const r = await curl('sleep');
    codes.push(r.code === 0 ? r.stdout : `exit ${r.code}: ${r.stderr.trim()}`);
  }
  await rollout;
  t.true(codes.length > 0);
  t.deepEqual(codes.filter((c) => c !== '200'), [], `${codes.length} requests during the rollout`);
  const now = await ztunnelPods();
  t.false(now.some((p) => old.has(p.name)), 'every ztunnel pod was replaced');
  const successor = now.find((p) => p.node === server.node)!;
  t.true((await must(['logs', '-n', 'istio-system', successor.name])).includes(`pod received, starting proxy uid=${server.uid}`));
  t.is((await curl('sleep')).stdout, '200');
  t.deepEqual(
    (await pods()).map((p) => [p.name, p.uid, p.restarts]),
    before.map((p) => [p.name, p.uid, 0]),
  );
});

test.serial('an L4 AuthorizationPolicy allowing only sleep resets notsleep (curl exit 56)', async (t) => {
  await must(['apply', '-f', '-'], policyYaml);
  const denied = await eventually('notsleep denied', async () => {
    const r = await kubectl(['exec', '-n', ns, 'deploy/notsleep', '--', 'curl', '-s', 'http://server/']);
    return r.code !== 0 && r;
  });
  t.is(denied.stdout, '');
  t.is(denied.stderr.trim().split('\n').pop(), 'command terminated with exit code 56');
  const ok = await curl('sleep');
  t.is(ok.stdout, '200', ok.stderr);
  // The denial is in the destination's access log (connection complete with the policy error).
  const logs = await ztunnelLogs();
  t.true(
    logs.split('\n').some((l) => l.includes('\taccess\t') && l.includes(`src.identity="spiffe://cluster.local/ns/${ns}/sa/notsleep"`) && l.includes('direction="inbound"') && /error=/.test(l)),
    'denied connection logged',
  );
});

test.serial('removing the label takes the pods out: annotation and rules gone, no restarts, plain traffic', async (t) => {
  await must(['label', 'namespace', ns, 'istio.io/dataplane-mode-']);
  const after = await eventually('annotation removed from every pod', async () => {
    const ps = await pods();
    return ps.every((p) => !('ambient.istio.io/redirection' in p.annotations)) && ps;
  });
  t.deepEqual(
    after.map((p) => [p.name, p.uid, p.restarts]),
    before.map((p) => [p.name, p.uid, 0]),
  );
  for (const p of before) t.deepEqual(await inpodRules(p.uid), [], `no in-pod rules left in ${p.name}`);
  const logs = await ztunnelLogs();
  for (const p of before) t.true(logs.includes(`pod delete request, draining proxy uid=${p.uid}`), `drained ${p.name}`);
  // Out of the mesh nothing enforces the L4 policy any more: both clients get through in plain text.
  for (const c of ['sleep', 'notsleep']) {
    const r = await curl(c);
    t.is(r.stdout, '200', `${c}: ${r.stderr}`);
  }
  await must(['delete', 'authorizationpolicy', '-n', ns, POLICY]);
});
