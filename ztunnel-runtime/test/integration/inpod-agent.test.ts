// The node agent against the shared local cluster (AMBIT_KUBECONFIG; skipped without it): real Pods on a virtual
// node, their real netns `ambit-<uid>`, real iptables. Labels enroll and un-enroll pods without restarting them.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, PatchStrategy, type V1Pod, setHeaderOptions } from '@kubernetes/client-node';
import test from 'ava';
import { waitFor } from '@ambit/cluster';
import {
  type CapturedConnection,
  NodeAgent,
  PodProxyListeners,
  createPodSocketFactory,
  listRules,
  rulesMatch,
} from '../../src/inpod/index.js';
import type { Logger } from '../../src/log.js';

const exec = promisify(execFile);
const kubeconfig = process.env.AMBIT_KUBECONFIG;
const serial = kubeconfig ? test.serial : test.serial.skip;

function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  return waitFor(what, fn, timeoutMs, 300);
}

serial('labels enroll and un-enroll running pods: annotation, rules, listeners, capture; no restarts', async (t) => {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig!);
  const core = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const node = await eventually('a Ready node', async () =>
    (await core.listNode()).items.find((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
  );
  const nodeName = node.metadata!.name!;
  const ns = `inpod-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });

  const lines: string[] = [];
  const log: Logger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => undefined };
  const captured: { pod: string; kind: 'outbound' | 'inbound'; dst: string }[] = [];
  const proxies = new Map<string, PodProxyListeners>();
  const relays = new Set<net.Socket>();
  const agent = new NodeAgent({
    nodeName,
    kubeConfig: kc,
    log,
    hooks: {
      async onPodAdded(pod, netns) {
        const factory = createPodSocketFactory(netns);
        const relay = (kind: 'outbound' | 'inbound') => (c: CapturedConnection) => {
          captured.push({ pod: pod.name, kind, dst: `${c.originalDst.address}:${c.originalDst.port}` });
          const up = factory(c.originalDst.address, c.originalDst.port);
          relays.add(up);
          up.on('close', () => relays.delete(up));
          up.on('error', () => c.socket.destroy());
          c.socket.on('error', () => up.destroy());
          c.socket.pipe(up).pipe(c.socket);
        };
        proxies.set(pod.uid, await PodProxyListeners.start(netns, { onOutbound: relay('outbound'), onInbound: relay('inbound'), onHboneSocket: (s) => s.destroy() }));
      },
      async onPodRemoved(uid) {
        await proxies.get(uid)?.close({ drainMs: 1000 });
        proxies.delete(uid);
      },
    },
  });
  t.teardown(async () => {
    await agent.stop({ unenroll: true });
    for (const s of relays) s.destroy();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  const podSpec = (name: string, image: string, command: string[]): V1Pod => ({
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name, image, command }] },
  });
  await core.createNamespacedPod({ namespace: ns, body: podSpec('server', 'python:3.12', ['python3', '-m', 'http.server', '8080']) });
  await core.createNamespacedPod({ namespace: ns, body: podSpec('client', 'busybox', ['sh', '-c', 'sleep 3600']) });
  const running = (name: string) =>
    eventually(`${name} running`, async () => {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      return p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
    });
  const server0 = await running('server');
  const client0 = await running('client');
  const netnsOf = (p: V1Pod) => `ambit-${p.metadata!.uid}`;
  const curl = async () => {
    const url = `http://${server0.status!.podIP}:8080/`;
    return eventually(`curl ${url}`, async () => {
      const r = await exec('ip', ['netns', 'exec', netnsOf(client0), 'curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', url]);
      return r.stdout === '200' ? r.stdout : undefined;
    });
  };
  t.is(await curl(), '200');

  await agent.start();
  t.deepEqual(agent.enrolled(), [], 'nothing selected yet');

  // Namespace label: both pods enrolled.
  await core.patchNamespace({ name: ns, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, merge);
  for (const p of [server0, client0]) {
    await eventually(`${p.metadata!.name} annotated`, async () => {
      const cur = await core.readNamespacedPod({ name: p.metadata!.name!, namespace: ns });
      return cur.metadata?.annotations?.['ambient.istio.io/redirection'] === 'enabled';
    });
    t.true(rulesMatch(await listRules(`/var/run/netns/${netnsOf(p)}`)), `rules in ${p.metadata!.name}`);
    t.true(lines.includes(`pod received, starting proxy uid=${p.metadata!.uid} name=${p.metadata!.name} namespace=${ns}`));
  }
  const dst = `${server0.status!.podIP}:8080`;
  t.is(await curl(), '200');
  t.deepEqual(captured, [
    { pod: 'client', kind: 'outbound', dst },
    { pod: 'server', kind: 'inbound', dst },
  ]);

  // The waypoint opt-out label on the server: only the server leaves.
  captured.length = 0;
  await core.patchNamespacedPod({ name: 'server', namespace: ns, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'none' } } } }, merge);
  await eventually('server un-annotated', async () => {
    const cur = await core.readNamespacedPod({ name: 'server', namespace: ns });
    return cur.metadata?.annotations?.['ambient.istio.io/redirection'] === undefined;
  });
  await eventually('server proxy drained', async () => agent.enrolled().length === 1);
  t.true(lines.includes(`pod delete request, draining proxy uid=${server0.metadata!.uid} name=server namespace=${ns}`));
  t.deepEqual((await listRules(`/var/run/netns/${netnsOf(server0)}`)).iptables, { mangle: [], nat: [], raw: [] });
  t.is(await curl(), '200');
  t.deepEqual(captured, [{ pod: 'client', kind: 'outbound', dst }]);

  // Namespace label removed: the client leaves too; traffic goes direct.
  captured.length = 0;
  await core.patchNamespace({ name: ns, body: { metadata: { labels: { 'istio.io/dataplane-mode': null } } } }, merge);
  await eventually('client un-enrolled', async () => agent.enrolled().length === 0);
  t.is(await curl(), '200');
  t.deepEqual(captured, []);

  // Nobody was restarted.
  for (const p0 of [server0, client0]) {
    const p = await core.readNamespacedPod({ name: p0.metadata!.name!, namespace: ns });
    t.is(p.status?.containerStatuses?.[0]?.restartCount, 0);
    t.is(p.metadata?.uid, p0.metadata?.uid);
    t.deepEqual(p.status?.containerStatuses?.[0]?.state?.running?.startedAt, p0.status?.containerStatuses?.[0]?.state?.running?.startedAt);
  }
});
