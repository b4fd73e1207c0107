// The node agent (istio-cni-node) on the local cluster's real nodes, as a user would exercise it: pods stay
// captured and their traffic mutual TLS across an agent restart, with no pod restarted; with the agent gone, a new
// pod in an ambient namespace does not start serving in plaintext (its sandbox is refused with a clear event) and
// starts, captured, once the agent is back. Runs on the shared cluster named by AMBIT_KUBECONFIG. Root.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { MeshFixture, repoRoot as repo, serverManifest } from '@ambit/cluster';

let f: MeshFixture;
const ns = MeshFixture.namespace('zt-agent');

async function podStates(): Promise<Map<string, { uid: string; restarts: number; redirected: boolean }>> {
  const list = JSON.parse(await f.must(['get', 'pods', '-n', ns, '-o', 'json'])) as {
    items: { metadata: { name: string; uid: string; annotations?: Record<string, string> }; status: { containerStatuses?: { restartCount: number }[] } }[];
  };
  return new Map(
    list.items.map((p) => [
      p.metadata.name,
      {
        uid: p.metadata.uid,
        restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
        redirected: p.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled',
      },
    ]),
  );
}

/** A fresh request from sleep adds a line with sleep's SPIFFE identity (mutual TLS) to the ztunnels' access logs. */
async function mtlsFromSleep(marker: string): Promise<boolean> {
  const count = async () =>
    (await f.ztunnelLogs()).split('\n').filter((l) => l.includes(`src.identity="spiffe://cluster.local/ns/${ns}/sa/sleep"`) && l.includes('direction="inbound"')).length;
  const before = await count();
  const r = await f.curl('sleep', `http://server/${marker}`);
  return r.stdout === '404' && (await count()) > before;
}

async function agentPods(): Promise<string[]> {
  const r = await f.must(['get', 'pods', '-n', 'istio-system', '-l', 'k8s-app=istio-cni-node', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\\n"}{end}']);
  return r.split('\n').filter((l) => l.trim() && !l.trim().includes(' '));
}

test.before(async () => {
  f = await MeshFixture.open(ns);
  await f.must(['apply', '-n', ns, '-f', '-'], serverManifest());
  await f.must(['apply', '-n', ns, '-f', '-'], readFileSync(join(repo, 'samples', 'manifests', 'sleep.yaml'), 'utf8'));
  await f.must(['wait', '-n', ns, '--for=condition=available', 'deployment', '--all', '--timeout=120s']);
  await f.must(['label', 'namespace', ns, 'istio.io/dataplane-mode=ambient']);
  await f.eventually('every pod redirected', async () => [...(await podStates()).values()].every((p) => p.redirected), 60_000);
  await f.eventually('mTLS from sleep', () => mtlsFromSleep('before'), 60_000);
});

test.after.always(async () => {
  // Whatever a test did to the DaemonSet, it runs on every node again.
  await f?.kubectl(['patch', 'daemonset', 'istio-cni-node', '-n', 'istio-system', '--type=json', '-p', '[{"op":"remove","path":"/spec/template/spec/nodeSelector/ambit.dev~1no-such-node"}]']);
  await f?.kubectl(['rollout', 'status', '-n', 'istio-system', 'daemonset/istio-cni-node', '--timeout=120s']);
  await f?.close();
});

test.serial('after a node agent restart the pods are still captured and traffic is still mutual TLS; no pod restarted', async (t) => {
  const before = await podStates();
  const old = await agentPods();
  t.is(old.length, 2, 'one node agent per node');
  await f.must(['delete', 'pod', '-n', 'istio-system', '-l', 'k8s-app=istio-cni-node', '--wait=true']);
  await f.must(['rollout', 'status', '-n', 'istio-system', 'daemonset/istio-cni-node', '--timeout=120s']);
  const now = await agentPods();
  t.is(now.length, 2);
  t.true(now.every((p) => !old.includes(p)), `new agent pods: ${now.join(', ')}`);
  t.true(await f.eventually('mTLS from sleep after the agent restart', () => mtlsFromSleep('after-agent-restart'), 60_000));
  const after = await podStates();
  for (const [name, p] of before) {
    t.is(after.get(name)?.uid, p.uid, `${name} is the same pod`);
    t.is(after.get(name)?.restarts, p.restarts, `${name} did not restart`);
    t.true(after.get(name)?.redirected, `${name} still redirected`);
  }
});

test.serial('with the node agent gone, a new ambient pod is refused its sandbox with a clear event, then starts captured once the agent is back', async (t) => {
  // Istio's way to take the agent off every node without uninstalling it: a nodeSelector no node matches.
  await f.must(['patch', 'daemonset', 'istio-cni-node', '-n', 'istio-system', '--type=merge', '-p', '{"spec":{"template":{"spec":{"nodeSelector":{"ambit.dev/no-such-node":"true"}}}}}']);
  await f.eventually('no node agent left', async () => (await agentPods()).length === 0 && (await f.kubectl(['get', 'pods', '-n', 'istio-system', '-l', 'k8s-app=istio-cni-node', '-o', 'name'])).stdout.trim() === '', 120_000);
  await f.must(['run', 'late', '-n', ns, '--image=ambit/test-tools:0.1.0', '--restart=Never', '--', 'python3', '-m', 'http.server', '8080']);
  const event = await f.eventually('FailedCreatePodSandBox naming the agent', async () => {
    const ev = await f.must(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=late', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
    return ev.split('\n').find((l) => l.startsWith('FailedCreatePodSandBox') && l.includes('refusing to start it unprotected'));
  }, 90_000);
  t.regex(event, /ambit node agent not reachable/);
  const phase = await f.must(['get', 'pod', 'late', '-n', ns, '-o', 'jsonpath={.status.phase}']);
  t.is(phase, 'Pending', 'the pod never ran unprotected');

  await f.must(['patch', 'daemonset', 'istio-cni-node', '-n', 'istio-system', '--type=json', '-p', '[{"op":"remove","path":"/spec/template/spec/nodeSelector/ambit.dev~1no-such-node"}]']);
  await f.must(['rollout', 'status', '-n', 'istio-system', 'daemonset/istio-cni-node', '--timeout=120s']);
  await f.must(['wait', '-n', ns, '--for=condition=Ready', 'pod/late', '--timeout=120s']);
  t.true(await f.eventually('late redirected', async () => (await podStates()).get('late')?.redirected, 60_000));
});
