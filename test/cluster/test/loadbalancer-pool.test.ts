// Unit: the LoadBalancer allocator's decisions: who keeps, gets or loses which address of the pool.
import test from 'ava';
import { parsePool, planAddresses, type ServiceView } from '../src/loadbalancer/pool.js';
import { serviceView } from '../src/loadbalancer/allocator.js';

const pool = parsePool('10.245.0.0/24');
let clock = 0;
const svc = (name: string, over: Partial<ServiceView> = {}): ServiceView => ({
  namespace: 'default',
  name,
  creationTimestamp: `2026-01-01T00:00:${String(clock++).padStart(2, '0')}Z`,
  type: 'LoadBalancer',
  ingressIPs: [],
  ...over,
});
const assigned = (services: ServiceView[]) => Object.fromEntries(planAddresses(services, pool).map((d) => [d.name, d.ips]));

test('the pool excludes its network and broadcast addresses', (t) => {
  const tiny = parsePool('10.245.0.0/30');
  const d = planAddresses([svc('a'), svc('b'), svc('c', { ingressIPs: ['10.245.0.3'] })], tiny);
  t.deepEqual(d.map((x) => x.ips), [['10.245.0.1'], ['10.245.0.2'], []]);
  t.is(d[2]!.why, 'pool 10.245.0.0/30 exhausted');
  t.throws(() => parsePool('10.245.0.0'));
});

test('new LoadBalancer Services get the lowest free addresses, in creation order', (t) => {
  const a = svc('a');
  const b = svc('b');
  t.deepEqual(assigned([b, a]), { a: ['10.245.0.1'], b: ['10.245.0.2'] });
});

test('an address held stays, and nothing is written for a settled Service', (t) => {
  const a = svc('a', { ingressIPs: ['10.245.0.7'] });
  const b = svc('b');
  t.deepEqual(assigned([a, b]), { b: ['10.245.0.1'] });
});

test('one address is never handed to two Services: the younger claimant gets another one', (t) => {
  const older = svc('older', { ingressIPs: ['10.245.0.1'] });
  const younger = svc('younger', { ingressIPs: ['10.245.0.1'] });
  t.deepEqual(assigned([younger, older]), { younger: ['10.245.0.2'] });
});

test('a deleted Service frees its address for the next one', (t) => {
  const a = svc('a', { ingressIPs: ['10.245.0.1'] });
  const b = svc('b', { ingressIPs: ['10.245.0.2'] });
  const c = svc('c');
  t.deepEqual(assigned([a, b, c]), { c: ['10.245.0.3'] });
  t.deepEqual(assigned([b, c]), { c: ['10.245.0.1'] });
});

test('a Service changed to another type loses its pool address; other addresses in its status stay', (t) => {
  const was = svc('was', { type: 'ClusterIP', ingressIPs: ['10.245.0.1', '192.0.2.9'] });
  const next = svc('next');
  const d = planAddresses([was, next], pool);
  t.deepEqual(
    d.map((x) => [x.name, x.ips]),
    [
      ['was', ['192.0.2.9']],
      ['next', ['10.245.0.1']],
    ],
  );
  t.regex(d[0]!.why, /type ClusterIP/);
});

test('Services of another loadBalancerClass and of other types are left alone', (t) => {
  t.deepEqual(assigned([svc('other', { loadBalancerClass: 'example.com/lb' }), svc('np', { type: 'NodePort' }), svc('cip', { type: undefined })]), {});
});

test('spec.loadBalancerIP: given when in the pool and free, otherwise no address', (t) => {
  const holder = svc('holder', { ingressIPs: ['10.245.0.9'] });
  const wants = svc('wants', { loadBalancerIP: '10.245.0.42' });
  const wantsTaken = svc('wants-taken', { loadBalancerIP: '10.245.0.9', ingressIPs: ['10.245.0.8'] });
  const wantsOutside = svc('wants-outside', { loadBalancerIP: '192.0.2.50', ingressIPs: ['10.245.0.3'] });
  const d = planAddresses([holder, wants, wantsTaken, wantsOutside], pool);
  t.deepEqual(
    Object.fromEntries(d.map((x) => [x.name, x.ips])),
    { wants: ['10.245.0.42'], 'wants-taken': [], 'wants-outside': [] },
  );
  t.regex(d.find((x) => x.name === 'wants-taken')!.why, /taken/);
  t.regex(d.find((x) => x.name === 'wants-outside')!.why, /outside the pool/);
});

test('a Service whose address is outside the pool (set by someone else) gets one of the pool', (t) => {
  t.deepEqual(assigned([svc('a', { ingressIPs: ['192.0.2.9'] })]), { a: ['10.245.0.1'] });
});

test('decisions carry the resourceVersion they were made on (a stale write is refused by the API server)', (t) => {
  const [d] = planAddresses([svc('a', { resourceVersion: '42' })], pool);
  t.is(d!.resourceVersion, '42');
});

test('serviceView reads spec and status the way the API serves them', (t) => {
  const v = serviceView({
    metadata: { namespace: 'ns', name: 'gw', creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '7' },
    spec: { type: 'LoadBalancer', loadBalancerClass: '', loadBalancerIP: '' },
    status: { loadBalancer: { ingress: [{ ip: '10.245.0.5' }, { hostname: 'lb.example.com' }] } },
  });
  t.deepEqual(v, {
    namespace: 'ns',
    name: 'gw',
    creationTimestamp: '2026-01-01T00:00:00Z',
    resourceVersion: '7',
    type: 'LoadBalancer',
    loadBalancerClass: undefined,
    loadBalancerIP: undefined,
    ingressIPs: ['10.245.0.5'],
  });
});
