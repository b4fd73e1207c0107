import test from 'ava';
import { createMetricsRegistry, InMemoryMeshState, workloadLabels } from '../src/index.js';

test('histogram renders buckets, sum and count; unknown labels render "unknown"', (t) => {
  const m = createMetricsRegistry();
  const h = m.histogram({ name: 'd_ms', help: 'd', labelNames: ['code', 'x'], buckets: [1, 10] });
  h.observe({ code: 200 }, 5);
  h.observe({ code: 200 }, 0.5);
  const text = m.render();
  t.regex(text, /d_ms_bucket\{code="200",x="unknown",le="1"\} 1/);
  t.regex(text, /d_ms_bucket\{code="200",x="unknown",le="10"\} 2/);
  t.regex(text, /d_ms_bucket\{code="200",x="unknown",le="\+Inf"\} 2/);
  t.regex(text, /d_ms_sum\{code="200",x="unknown"\} 5.5/);
  t.regex(text, /d_ms_count\{code="200",x="unknown"\} 2/);
  t.throws(() => m.counter({ name: 'd_ms', help: '' }));
});

test('mesh state: endpoints from service endpoints or workload services; labels fallback', (t) => {
  const mesh = new InMemoryMeshState({
    services: [{ name: 'r', namespace: 'default', hostname: 'r.default.svc.cluster.local', vips: ['/10.96.0.5'], ports: { 9080: 9080 } }],
    workloads: [
      { uid: 'a', name: 'r-v1', namespace: 'default', serviceAccount: 'r', workloadIps: ['10.244.0.5'], protocol: 'HBONE', canonicalName: 'r', canonicalRevision: 'v1', services: { 'default/r.default.svc.cluster.local': { 9080: 9080 } } },
      { uid: 'b', name: 'r-v2', namespace: 'default', serviceAccount: 'r', workloadIps: ['10.244.0.6'], protocol: 'TCP', status: 'Unhealthy', services: { 'default/r.default.svc.cluster.local': { 9080: 9081 } } },
    ],
  });
  const svc = mesh.serviceByAddress('10.96.0.5')!;
  const eps = mesh.endpoints(svc, 9080);
  t.is(eps.length, 1);
  t.is(eps[0]!.address, '10.244.0.5');
  t.is(eps[0]!.identity, 'spiffe://cluster.local/ns/default/sa/r');
  t.deepEqual(workloadLabels(eps[0]!.workload!), { app: 'r', version: 'v1' });
});
