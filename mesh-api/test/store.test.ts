import test from 'ava';
import { MeshStore, loadBalanced, type MeshChange, type Service, type Workload } from '../src/model/index.js';

const KEY = 'default/reviews.default.svc.cluster.local';
const wl = (name: string, ip: string, extra: Partial<Workload> = {}): Workload => ({
  uid: `c//Pod/default/${name}`,
  name,
  namespace: 'default',
  serviceAccount: 'reviews',
  workloadIps: [ip],
  protocol: 'HBONE',
  ...extra,
});
const reviews = (extra: Partial<Service> = {}): Service => ({ name: 'reviews', namespace: 'default', hostname: 'reviews.default.svc.cluster.local', vips: ['/10.96.0.9'], ports: { 9080: 9080 }, ...extra });
const summary = (s: MeshStore, svc: Service) => s.endpoints(svc).map((e) => [e.workload.name, e.ports, e.status, loadBalanced(svc, e)]);

test("endpoints: the Service's own entries, then workloads naming it; a workload's `services` map wins for its uid", (t) => {
  const s = new MeshStore();
  const svc = reviews({
    endpoints: {
      a: { workloadUid: 'c//Pod/default/v1', port: { 9080: 1111 }, status: 'Healthy' },
      b: { workloadUid: 'c//Pod/default/v2', port: { 9080: 2222 }, status: 'Unhealthy' },
      gone: { workloadUid: 'c//Pod/default/unknown', port: { 9080: 1 } },
    },
  });
  s.applyFull({
    services: [svc],
    workloads: [
      wl('v1', '10.0.0.1', { services: { [KEY]: { 9080: 9081 } } }),
      wl('v2', '10.0.0.2'),
      wl('v3', '10.0.0.3', { services: { [KEY]: { 9080: 9083 } }, status: 'Unhealthy' }),
    ],
  });
  t.deepEqual(summary(s, svc), [
    ['v1', { 9080: 9081 }, 'Healthy', true],
    ['v2', { 9080: 2222 }, 'Unhealthy', false],
    ['v3', { 9080: 9083 }, 'Unhealthy', false],
  ]);
  const all = reviews({ ...svc, loadBalancer: { healthPolicy: 'AllowAll' } });
  t.deepEqual(
    summary(s, all).map((e) => e[3]),
    [true, true, true],
  );
});

test('lookups by hostname, name, VIP and IP follow deltas; a delta emits one change naming what changed', (t) => {
  const s = new MeshStore();
  s.applyFull({ services: [reviews()], workloads: [wl('v1', '10.0.0.1', { services: { [KEY]: { 9080: 9080 } } })] });
  const events: MeshChange[] = [];
  s.on('change', (e: MeshChange) => events.push(e));
  t.is(s.serviceByHostname('reviews.default.svc.cluster.local')?.name, 'reviews');
  t.is(s.serviceByName('default', 'reviews')?.hostname, 'reviews.default.svc.cluster.local');
  t.is(s.serviceByAddress('10.96.0.9')?.name, 'reviews');
  t.is(s.workloadByIp('10.0.0.1')?.name, 'v1');

  const other = { ...reviews(), namespace: 'other', vips: ['/10.96.0.10'] };
  s.applyDelta({ services: [other], workloads: [wl('v2', '10.0.0.2', { services: { [KEY]: { 9080: 9080 } } })] }, { workloads: ['c//Pod/default/v1'] });
  t.is(s.serviceByHostname('reviews.default.svc.cluster.local')?.namespace, 'other');
  t.is(s.workloadByIp('10.0.0.1'), undefined);
  t.deepEqual(
    s.endpoints(reviews()).map((e) => e.workload.name),
    ['v2'],
  );

  s.applyDelta({}, { services: ['other/reviews.default.svc.cluster.local'] });
  t.is(s.serviceByHostname('reviews.default.svc.cluster.local')?.namespace, 'default');
  t.is(s.serviceByName('other', 'reviews'), undefined);
  t.deepEqual(events, [
    { workloads: ['c//Pod/default/v1', 'c//Pod/default/v2'], services: ['other/reviews.default.svc.cluster.local'], policies: [], full: false },
    { workloads: [], services: ['other/reviews.default.svc.cluster.local'], policies: [], full: false },
  ]);
});

test('addresses are per network: a VIP `net/ip` is found only in that network', (t) => {
  const s = new MeshStore();
  s.applyFull({ services: [reviews({ vips: ['net1/10.96.0.9'] })], workloads: [wl('v1', '10.0.0.1', { network: 'net1' })] });
  t.is(s.serviceByAddress('10.96.0.9'), undefined);
  t.is(s.serviceByAddress('10.96.0.9', 'net1')?.name, 'reviews');
  t.is(s.workloadByIp('10.0.0.1'), undefined);
  t.is(s.workloadByIp('10.0.0.1', 'net1')?.name, 'v1');
});
