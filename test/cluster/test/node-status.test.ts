import test from 'ava';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { buildPodStatus, podPhase, qosClass, type PodView } from '../src/node/status.js';

const pod = (restartPolicy = 'Always'): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u', generation: 1 },
  spec: { restartPolicy, containers: [{ name: 'a' }, { name: 'b' }] },
});
const running = (name: string, ready: boolean): V1ContainerStatus => ({ name, image: 'i', imageID: 'i', ready, restartCount: 0, state: { running: { startedAt: new Date(0) } } });
const exited = (name: string, exitCode: number): V1ContainerStatus => ({
  name,
  image: 'i',
  imageID: 'i',
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode, finishedAt: new Date(0) } },
});
const view = (p: V1Pod, statuses: V1ContainerStatus[], extra: Partial<PodView> = {}): PodView => ({
  pod: p,
  podIP: '10.244.1.2',
  hostIP: '127.0.1.1',
  startTime: new Date(0),
  sandboxReady: true,
  initDone: true,
  initStatuses: [],
  statuses,
  sidecars: [],
  ...extra,
});

test('phase follows the containers and the restart policy', (t) => {
  t.is(podPhase(view(pod(), [running('a', true), running('b', false)])), 'Running');
  t.is(podPhase(view(pod(), [running('a', true), { ...exited('b', 0), state: { waiting: { reason: 'ContainerCreating' } } }])), 'Pending');
  const crashLooping = { ...exited('b', 1), state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } } } as V1ContainerStatus;
  t.is(podPhase(view(pod(), [running('a', true), crashLooping])), 'Running');
  t.is(podPhase(view(pod('Never'), [exited('a', 0), exited('b', 0)])), 'Succeeded');
  t.is(podPhase(view(pod('Never'), [exited('a', 0), exited('b', 3)])), 'Failed');
  t.is(podPhase(view(pod(), [], { initDone: false })), 'Pending');
  t.is(podPhase(view(pod(), [], { terminal: 'Failed' })), 'Failed');
});

test('conditions: Ready only when every container is ready; IPs and QoS are reported', (t) => {
  const s = buildPodStatus(view(pod(), [running('a', true), running('b', false)]), new Date(5000));
  const cond = Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c.status]));
  t.deepEqual(cond, { PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'False', ContainersReady: 'False', PodScheduled: 'True' });
  t.regex(s.conditions!.find((c) => c.type === 'Ready')!.message ?? '', /\[b\]/);
  t.is(s.podIP, '10.244.1.2');
  t.deepEqual(s.podIPs, [{ ip: '10.244.1.2' }]);
  t.is(s.hostIP, '127.0.1.1');
  t.is(s.qosClass, 'BestEffort');
  const ready = buildPodStatus(view(pod(), [running('a', true), running('b', true)]));
  t.is(ready.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
});

test('transition times stay put while a condition does not change', (t) => {
  const p = pod();
  const first = buildPodStatus(view(p, [running('a', true), running('b', true)]), new Date(1000));
  p.status = first;
  const second = buildPodStatus(view(p, [running('a', true), running('b', true)]), new Date(9000));
  t.deepEqual(
    second.conditions!.map((c) => c.lastTransitionTime),
    first.conditions!.map((c) => c.lastTransitionTime),
  );
});

test('QoS classes', (t) => {
  t.is(qosClass({ spec: { containers: [{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } } }] } }), 'Guaranteed');
  t.is(qosClass({ spec: { containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }] } }), 'Burstable');
});
