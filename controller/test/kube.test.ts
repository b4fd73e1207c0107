// The kube layer against an in-memory API on loopback: informer list+watch with relist on 410, the work queue,
// Lease leader election, status merging, logs, metrics.
import test from 'ava';
import { KubeClient, Informer, LeaderElector, Registry, WorkQueue, mergeConditions, mergeRouteParents, loadClusterAccess, type KubeObject, type ResourceType } from '../src/kube/index.js';
import { FakeApiServer } from './fake-apiserver.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CM: ResourceType = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const LEASE: ResourceType = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

async function setup() {
  const api = new FakeApiServer();
  const url = await api.start();
  const client = new KubeClient({ server: url, namespace: 'default', source: 'test' });
  return { api, client };
}

test('informer lists, watches, and relists after 410 Gone', async (t) => {
  const { api, client } = await setup();
  const col = '/api/v1/namespaces/default/configmaps';
  api.put(col, { metadata: { name: 'a', namespace: 'default' } });
  const seen: string[] = [];
  const inf = new Informer(client, CM, { namespace: 'default', registry: new Registry() }).on({
    add: (o) => seen.push(`add ${o.metadata.name}`),
    update: (_o, n) => seen.push(`update ${n.metadata.name}`),
    delete: (o) => seen.push(`delete ${o.metadata.name}`),
  });
  await inf.start();
  t.deepEqual(seen, ['add a']);
  api.put(col, { metadata: { name: 'b', namespace: 'default' } });
  await until(() => inf.size === 2);
  api.put(col, { metadata: { name: 'b', namespace: 'default' }, data: { x: '1' } });
  api.remove(col, 'a');
  await until(() => seen.length === 4);
  t.deepEqual(seen, ['add a', 'add b', 'update b', 'delete a']);
  // The server compacts history and ends the watch: re-watching from the old version gets 410, the informer relists
  // and reports what changed meanwhile.
  api.expireNextWatch = true;
  api.put(col, { metadata: { name: 'c', namespace: 'default' } });
  await until(() => inf.size === 2 && !!inf.get('default/c'));
  const relistsBefore = inf.relists;
  api.closeWatches();
  await until(() => inf.relists > relistsBefore);
  api.put(col, { metadata: { name: 'd', namespace: 'default' } });
  await until(() => !!inf.get('default/d'));
  t.true(api.requests.some((r) => r.startsWith('GET /api/v1/namespaces/default/configmaps?') && r.includes('watch=true')));
  t.true(inf.relists >= 2);
  await inf.stop();
  client.close();
  await api.stop();
});

test('work queue dedups keys, never runs one key twice at once, and retries with backoff', async (t) => {
  const reg = new Registry();
  const q = new WorkQueue({ name: 't', concurrency: 4, baseDelayMs: 5, registry: reg });
  const runs: string[] = [];
  let active = 0;
  let maxActiveForA = 0;
  let failB = 2;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  q.run(async (key) => {
    runs.push(key);
    if (key === 'a') {
      active++;
      maxActiveForA = Math.max(maxActiveForA, active);
      await gate;
      active--;
    }
    if (key === 'b' && failB-- > 0) throw new Error('boom');
  });
  for (let i = 0; i < 5; i++) q.add('a');
  await sleep(10);
  q.add('a'); // while processing: once more afterwards
  q.add('a');
  q.add('b');
  release();
  await until(() => runs.filter((r) => r === 'b').length === 3);
  await q.idle();
  t.is(runs.filter((r) => r === 'a').length, 2);
  t.is(maxActiveForA, 1);
  t.is((await reg.render()).includes('reconcile_errors_total{controller="t"} 2'), true);
  t.is((await reg.render()).includes('workqueue_retries_total{name="t"} 2'), true);
  t.regex((await reg.render()), /workqueue_depth\{name="t"\} 0/);
  t.regex((await reg.render()), /reconcile_duration_seconds_count\{controller="t"\} 5/);
  await q.shutdown();
});

test('leader election: one leader; the standby takes over after the lease expires', async (t) => {
  const { api, client } = await setup();
  const opts = { namespace: 'istio-system', name: 'lock', leaseDurationSeconds: 1, renewDeadlineMs: 600, retryPeriodMs: 100, registry: new Registry() };
  const a = new LeaderElector(client, { ...opts, identity: 'a' });
  const b = new LeaderElector(client, { ...opts, identity: 'b' });
  const leading = new Set<string>();
  let overlap = false;
  const cb = (id: string) => ({
    onStartedLeading: () => {
      leading.add(id);
      if (leading.size > 1) overlap = true;
    },
    onStoppedLeading: () => {
      leading.delete(id);
    },
  });
  a.start(cb('a'));
  await until(() => leading.has('a'));
  b.start(cb('b'));
  await sleep(1500);
  t.deepEqual([...leading], ['a']);
  // a crashes: it stops renewing without releasing (simulated by taking the API away from it).
  (a as unknown as { tryAcquireOrRenew: () => Promise<boolean> }).tryAcquireOrRenew = async () => false;
  await until(() => leading.has('b') && !leading.has('a'), 5000);
  t.false(overlap);
  const lease = api.get('/apis/coordination.k8s.io/v1/namespaces/istio-system/leases', 'lock') as unknown as KubeObject & { spec: { holderIdentity: string; leaseTransitions: number } };
  t.is(lease.spec.holderIdentity, 'b');
  t.is(lease.spec.leaseTransitions, 1);
  await b.stop();
  // A clean stop releases the lease.
  t.is((api.get('/apis/coordination.k8s.io/v1/namespaces/istio-system/leases', 'lock') as unknown as KubeObject & { spec: { holderIdentity: string } }).spec.holderIdentity, '');
  await a.stop();
  client.close();
  await api.stop();
  void LEASE;
});

test('conditions keep lastTransitionTime while their status holds', (t) => {
  const old = [{ type: 'Programmed', status: 'False' as const, reason: 'A', message: 'm', lastTransitionTime: 't0' }];
  t.is(mergeConditions(old, [{ type: 'Programmed', status: 'False', reason: 'B', message: 'n', observedGeneration: 2 }], 't1')[0].lastTransitionTime, 't0');
  t.is(mergeConditions(old, [{ type: 'Programmed', status: 'True', reason: 'B', message: 'n', observedGeneration: 2 }], 't1')[0].lastTransitionTime, 't1');
});

test('route parents: only our controller\'s entries change', (t) => {
  const theirs = { parentRef: { name: 'gw' }, controllerName: 'example.com/other', conditions: [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: '', lastTransitionTime: 'x' }] };
  const mineOld = { parentRef: { name: 'waypoint' }, controllerName: 'istio.io/mesh-controller', conditions: [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: '', lastTransitionTime: 't0' }] };
  const next = mergeRouteParents([theirs, mineOld], 'istio.io/mesh-controller', [{ parentRef: { name: 'waypoint' }, controllerName: 'istio.io/mesh-controller', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: 3 }] }], 't1');
  t.deepEqual(next[0], theirs);
  t.is(next[1].conditions[0].lastTransitionTime, 't0');
  t.is(next[1].conditions[0].observedGeneration, 3);
});

test('kubeconfig: current context, token, namespace, relative CA path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  writeFileSync(join(dir, 'ca.crt'), 'CA');
  writeFileSync(
    join(dir, 'config'),
    'apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: "https://10.0.0.1:6443/", certificate-authority: ca.crt}\nusers:\n- name: u\n  user: {token: abc}\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: apps}\ncurrent-context: x\n',
  );
  const a = await loadClusterAccess({ kubeconfig: join(dir, 'config') });
  t.is(a.server, 'https://10.0.0.1:6443');
  t.is(a.namespace, 'apps');
  t.is(await a.token?.(), 'abc');
  t.is(a.ca?.toString(), 'CA');
  const viaEnv = await loadClusterAccess({ env: { KUBECONFIG: `/nonexistent:${join(dir, 'config')}` } });
  t.is(viaEnv.server, 'https://10.0.0.1:6443');
});
