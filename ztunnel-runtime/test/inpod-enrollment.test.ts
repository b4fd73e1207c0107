// Enrollment decisions (Istio's selectors) and NodeAgent's order of side effects, with a fake dataplane and a fake
// netns resolver standing in for the node agent's /proc scan: the agent has no default netns location of its own.
import test from 'ava';
import {
  type EnrolledPod,
  type Netns,
  type NamespaceLike,
  NodeAgent,
  type PodLike,
  enrollmentDecision,
  redirectionPatch,
} from '../src/inpod/index.js';

const pod = (labels: Record<string, string> = {}, over: Partial<PodLike> & { annotations?: Record<string, string> } = {}): PodLike => ({
  metadata: { uid: 'u1', name: 'p1', namespace: 'ns1', labels, annotations: over.annotations ?? {} },
  spec: { nodeName: 'node-1', ...over.spec },
  status: { phase: 'Running', podIP: '10.244.1.5', ...over.status },
});
const ns = (labels: Record<string, string> = {}): NamespaceLike => ({ metadata: { name: 'ns1', labels } });
const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };
const NONE = { 'istio.io/dataplane-mode': 'none' };

test('decision: Istio’s default enablement selectors', (t) => {
  t.deepEqual(enrollmentDecision(pod(AMBIENT), ns()), { enroll: true, reason: 'pod-label' });
  t.deepEqual(enrollmentDecision(pod(), ns(AMBIENT)), { enroll: true, reason: 'namespace-label' });
  t.deepEqual(enrollmentDecision(pod({ 'istio.io/dataplane-mode': 'other' }), ns(AMBIENT)), { enroll: true, reason: 'namespace-label' });
  t.deepEqual(enrollmentDecision(pod(NONE), ns(AMBIENT)), { enroll: false, reason: 'pod-opt-out' }, 'waypoints carry mode none');
  t.deepEqual(enrollmentDecision(pod(), ns()), { enroll: false, reason: 'not-selected' });
  t.deepEqual(enrollmentDecision(pod(), undefined), { enroll: false, reason: 'not-selected' });
  t.deepEqual(enrollmentDecision(pod(), ns({ 'istio.io/dataplane-mode': 'none' })), { enroll: false, reason: 'not-selected' });
  t.deepEqual(enrollmentDecision(pod(AMBIENT), ns(NONE)), { enroll: true, reason: 'pod-label' }, 'pod label wins');
});

test('decision: exclusions win over any label', (t) => {
  t.deepEqual(enrollmentDecision(pod(AMBIENT, { annotations: { 'sidecar.istio.io/status': '{}' } }), ns(AMBIENT)), { enroll: false, reason: 'sidecar' });
  t.deepEqual(enrollmentDecision(pod(AMBIENT, { spec: { hostNetwork: true } }), ns(AMBIENT)), { enroll: false, reason: 'host-network' });
  t.deepEqual(enrollmentDecision(pod(AMBIENT, { status: { phase: 'Succeeded' } }), ns()), { enroll: false, reason: 'terminal' });
  t.deepEqual(enrollmentDecision(pod(AMBIENT, { status: { phase: 'Failed' } }), ns()), { enroll: false, reason: 'terminal' });
  t.deepEqual(enrollmentDecision(pod(AMBIENT, { status: { phase: 'Pending' } }), ns()), { enroll: true, reason: 'pod-label' });
});

test('annotation merge patch', (t) => {
  t.deepEqual(redirectionPatch('enabled'), { metadata: { annotations: { 'ambient.istio.io/redirection': 'enabled' } } });
  t.deepEqual(redirectionPatch(null), { metadata: { annotations: { 'ambient.istio.io/redirection': null } } });
});

/** Where the fake resolver finds u1's netns: a process of the pod, as the node agent's /proc scan reports it. */
const PROC_NETNS = '/proc/4242/ns/net';

/**
 * A NodeAgent with every side effect recorded in order. `procs` (uid -> netns path) is what its resolver finds;
 * `resolved` records each uid it was asked about.
 */
function harness(opts: { existing?: string[]; procs?: Record<string, string>; failAdd?: number; inode?: () => number } = {}) {
  const events: string[] = [];
  const lines: string[] = [];
  const existing = new Set(opts.existing ?? [PROC_NETNS]);
  const procs = new Map(Object.entries(opts.procs ?? { u1: PROC_NETNS }));
  const resolved: string[] = [];
  let failAdd = opts.failAdd ?? 0;
  const annotations = new Map<string, string>();
  const agent = new NodeAgent({
    nodeName: 'node-1',
    netnsResolver: (uid) => {
      resolved.push(uid);
      return procs.get(uid);
    },
    retryMs: 5,
    log: { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => undefined },
    hooks: {
      onPodAdded: (p: EnrolledPod, n: Netns) => {
        if (failAdd-- > 0) throw new Error('listener failed');
        events.push(`added ${p.uid} ${p.name} ${p.namespace} ${p.ip} ${p.serviceAccount} ${n.path}`);
      },
      onPodRemoved: (uid) => void events.push(`removed ${uid}`),
    },
    dataplane: {
      exists: (p) => existing.has(p),
      ...(opts.inode ? { inode: opts.inode } : {}),
      open: (p) => ({ path: p, inode: opts.inode?.(), close: () => events.push(`close ${p}`) }) as unknown as Netns,
      applyRules: async (p) => void events.push(`rules+ ${p}`),
      removeRules: async (p) => void events.push(`rules- ${p}`),
    },
    annotate: async (namespace, name, value) => {
      events.push(`annotate ${namespace}/${name} ${value}`);
      if (value === null) annotations.delete(`${namespace}/${name}`);
      else annotations.set(`${namespace}/${name}`, value);
    },
  });
  return { agent, events, lines, existing, procs, resolved, annotations };
}

test('agent: namespace label enrolls: proxy up, then rules, then annotation; log line is Istio’s', async (t) => {
  const h = harness();
  h.agent.namespaceUpserted(ns(AMBIENT));
  h.agent.podUpserted({ ...pod(), spec: { nodeName: 'node-1', serviceAccountName: 'sa1' } as PodLike['spec'] });
  await h.agent.whenIdle();
  t.deepEqual(h.events, ['added u1 p1 ns1 10.244.1.5 sa1 /proc/4242/ns/net', 'rules+ /proc/4242/ns/net', 'annotate ns1/p1 enabled']);
  t.true(h.lines.includes('pod received, starting proxy uid=u1 name=p1 namespace=ns1'));
  t.deepEqual(h.agent.enrolled().map((p) => p.uid), ['u1']);
  // further updates of an enrolled pod change nothing
  h.agent.podUpserted(pod({}, { annotations: { 'ambient.istio.io/redirection': 'enabled' } }));
  await h.agent.whenIdle();
  t.is(h.events.length, 3);
});

test('agent: removing the namespace label un-enrolls without restarting the pod', async (t) => {
  const h = harness();
  h.agent.namespaceUpserted(ns(AMBIENT));
  h.agent.podUpserted(pod());
  await h.agent.whenIdle();
  h.events.length = 0;
  h.agent.podUpserted(pod({}, { annotations: { 'ambient.istio.io/redirection': 'enabled' } }));
  h.agent.namespaceUpserted(ns());
  await h.agent.whenIdle();
  t.deepEqual(h.events, ['rules- /proc/4242/ns/net', 'annotate ns1/p1 null', 'removed u1', 'close /proc/4242/ns/net']);
  t.true(h.lines.includes('pod delete request, draining proxy uid=u1 name=p1 namespace=ns1'));
  t.deepEqual(h.agent.enrolled(), []);
});

test('agent: pod label none (waypoint) on an ambient namespace is never enrolled', async (t) => {
  const h = harness();
  h.agent.namespaceUpserted(ns(AMBIENT));
  h.agent.podUpserted(pod(NONE));
  await h.agent.whenIdle();
  t.deepEqual(h.events, []);
});

test('agent: pod deleted: proxy drained, no rules or annotation work on a vanished pod', async (t) => {
  const h = harness();
  h.agent.podUpserted(pod(AMBIENT));
  await h.agent.whenIdle();
  h.events.length = 0;
  h.agent.podDeleted(pod(AMBIENT));
  await h.agent.whenIdle();
  t.deepEqual(h.events, ['removed u1', 'close /proc/4242/ns/net']);
});

test('agent: other nodes’ pods, pods without IP are ignored; missing netns is retried', async (t) => {
  const h = harness({ existing: [] });
  h.agent.podUpserted({ ...pod(AMBIENT), spec: { nodeName: 'node-2' } });
  h.agent.podUpserted(pod(AMBIENT, { status: { podIP: '' } }));
  await h.agent.whenIdle();
  t.deepEqual(h.events, []);
  h.agent.podUpserted(pod(AMBIENT));
  await h.agent.whenIdle();
  t.deepEqual(h.events, [], 'netns not there yet');
  h.existing.add(PROC_NETNS);
  for (let i = 0; i < 100 && h.events.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
    await h.agent.whenIdle();
  }
  t.is(h.events.length, 3);
  t.is(h.events[2], 'annotate ns1/p1 enabled');
  await h.agent.stop();
});

test('agent: a failing proxy start is retried; nothing is left half-done in between', async (t) => {
  const h = harness({ failAdd: 1 });
  h.agent.podUpserted(pod(AMBIENT));
  await h.agent.whenIdle();
  t.deepEqual(h.events, ['close /proc/4242/ns/net'], 'no rules, no annotation after a failed start');
  t.true(h.lines.some((l) => l.startsWith('failed to add pod to mesh uid=u1')));
  for (let i = 0; i < 100 && h.events.length < 4; i++) {
    await new Promise((r) => setTimeout(r, 10));
    await h.agent.whenIdle();
  }
  t.deepEqual(h.events.slice(1).map((e) => e.split(' ')[0]), ['added', 'rules+', 'annotate']);
  await h.agent.stop();
});

test('agent: startup finds a pod annotated by a previous run but no longer selected: cleans it up', async (t) => {
  const h = harness();
  h.agent.podUpserted(pod({}, { annotations: { 'ambient.istio.io/redirection': 'enabled' } }));
  await h.agent.whenIdle();
  t.deepEqual(h.events, ['rules- /proc/4242/ns/net', 'annotate ns1/p1 null']);
  t.true(h.lines.includes('removing stale redirection uid=u1 name=p1 namespace=ns1'));
});

test('agent: stop() keeps pods redirected (like a ztunnel restart); stop({unenroll}) cleans up', async (t) => {
  const a = harness();
  a.agent.podUpserted(pod(AMBIENT));
  await a.agent.whenIdle();
  a.events.length = 0;
  await a.agent.stop();
  t.deepEqual(a.events, ['removed u1', 'close /proc/4242/ns/net']);
  const b = harness();
  b.agent.podUpserted(pod(AMBIENT));
  await b.agent.whenIdle();
  b.events.length = 0;
  await b.agent.stop({ unenroll: true });
  t.deepEqual(b.events, ['rules- /proc/4242/ns/net', 'annotate ns1/p1 null', 'removed u1', 'close /proc/4242/ns/net']);
});

test('agent: a pod whose netns was replaced (new sandbox) gets a new proxy in the new netns', async (t) => {
  let ino = 100;
  const h = harness({ inode: () => ino });
  h.agent.podUpserted(pod(AMBIENT));
  await h.agent.whenIdle();
  h.agent.podUpserted(pod(AMBIENT, { annotations: { 'ambient.istio.io/redirection': 'enabled' } }));
  await h.agent.whenIdle();
  t.is(h.events.length, 3, 'same netns: nothing to do');
  h.events.length = 0;
  ino = 101;
  h.agent.podUpserted(pod(AMBIENT, { annotations: { 'ambient.istio.io/redirection': 'enabled' }, status: { podIP: '10.244.1.9' } }));
  await h.agent.whenIdle();
  t.deepEqual(h.events, ['removed u1', 'close /proc/4242/ns/net', 'added u1 p1 ns1 10.244.1.9 default /proc/4242/ns/net', 'rules+ /proc/4242/ns/net']);
  t.true(h.lines.includes('pod netns replaced, restarting proxy uid=u1 name=p1 namespace=ns1'));
});

test('agent: a pod no process of which is found yet is retried until the resolver finds its netns', async (t) => {
  const h = harness({ procs: {} });
  h.agent.podUpserted(pod(AMBIENT));
  await h.agent.whenIdle();
  t.deepEqual(h.events, [], 'nothing done without a netns');
  t.true(h.resolved.includes('u1'));
  h.procs.set('u1', PROC_NETNS);
  for (let i = 0; i < 100 && h.events.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
    await h.agent.whenIdle();
  }
  t.deepEqual(h.events, ['added u1 p1 ns1 10.244.1.5 default /proc/4242/ns/net', 'rules+ /proc/4242/ns/net', 'annotate ns1/p1 enabled']);
  await h.agent.stop();
});

test('agent: a CNI ADD’s netns is used as given; the resolver is not asked', async (t) => {
  const cniNetns = '/var/run/netns/cni-5d0c';
  const h = harness({ existing: [cniNetns], procs: {} });
  t.deepEqual(await h.agent.enrollNow(pod(AMBIENT), ns(), { netnsPath: cniNetns, ip: '10.244.1.5' }), { enrolled: true, reason: 'pod-label' });
  t.deepEqual(h.events, [`added u1 p1 ns1 10.244.1.5 default ${cniNetns}`, `rules+ ${cniNetns}`, 'annotate ns1/p1 enabled']);
  t.deepEqual(h.resolved, []);
  await h.agent.stop();
});
