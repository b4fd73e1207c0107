import test from 'ava';
import { createMetricsRegistry, InMemoryMeshState, workloadLabels } from '../src/index.js';

test('histogram renders buckets, sum and count; unknown labels render "unknown"', async (t) => {
  const m = createMetricsRegistry();
  const h = m.histogram({ name: 'd_ms', help: 'd', labelNames: ['code', 'x'], buckets: [1, 10] });
  h.observe({ code: 200 }, 5);
  h.observe({ code: 200 }, 0.5);
  const text = (await m.render());
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

test('series per metric are bounded: the least recently used go first, a bound handle of an evicted series re-creates it', async (t) => {
  const m = createMetricsRegistry({ maxSeriesPerMetric: 10 });
  const c = m.counter({ name: 'req_total', help: 'r', labelNames: ['authority'] });
  const hot = c.bind({ authority: 'hot:80' });
  hot.inc();
  // A peer that invents a new label value per request (an authority per port) cannot grow the registry.
  for (let i = 0; i < 1000; i++) {
    c.inc({ authority: `10.0.0.1:${i}` });
    if (i % 5 === 0) hot.inc();
  }
  const lines = (await m.render()).split('\n').filter((l) => l.startsWith('req_total{'));
  t.true(lines.length <= 10, `${lines.length} series`);
  t.true(lines.includes('req_total{authority="10.0.0.1:999"} 1'), 'the newest series is kept');
  t.is(m.get('req_total', { authority: 'hot:80' }), 201, 'a series in use survives');
  t.is(m.get('req_total', { authority: '10.0.0.1:0' }), undefined, 'an old one was evicted');
  // Evicted while bound: the handle's next update lands in a live series again.
  const cold = c.bind({ authority: 'cold:80' });
  cold.inc();
  for (let i = 0; i < 50; i++) c.inc({ authority: `10.0.0.2:${i}` });
  t.is(m.get('req_total', { authority: 'cold:80' }), undefined);
  cold.inc();
  t.is(m.get('req_total', { authority: 'cold:80' }), 1);
  const h = m.histogram({ name: 'd_ms', help: 'd', labelNames: ['authority'], buckets: [1] });
  for (let i = 0; i < 100; i++) h.observe({ authority: `a${i}` }, 0.5);
  t.true((await m.render()).split('\n').filter((l) => l.startsWith('d_ms_count{')).length <= 10);
});
