import test from 'ava';
import { registerHooks } from 'node:module';
import { createServer } from 'node:http';
import { request } from 'undici';

// Every module this worker loads from here on, to show that tracing off never loads the OpenTelemetry SDK.
const loaded: string[] = [];
registerHooks({
  load(url, context, next) {
    loaded.push(url);
    return next(url, context);
  },
});

test('tracing is off by default: no span reaches a listening collector, trace headers pass untouched, no SDK module is loaded', async (t) => {
  const { echo, service, startWaypoint, workload } = await import('./helpers.js');
  let posts = 0;
  const otel = createServer((_req, res) => {
    posts++;
    res.end('{}');
  });
  await new Promise<void>((r) => otel.listen(0, '127.0.0.1', () => r()));
  const pp = await echo('productpage');
  const h = await startWaypoint({ services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: pp.port } })] });
  try {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    for (let i = 0; i < 5; i++) {
      const res = await request(`${h.url}/`, { headers: { host: 'productpage:9080', traceparent: tp, 'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736', 'x-b3-spanid': '00f067aa0ba902b7' } });
      const body = JSON.parse(await res.body.text()) as { headers: Record<string, string> };
      t.is(body.headers.traceparent, tp);
      t.is(body.headers['x-b3-spanid'], '00f067aa0ba902b7');
    }
    t.true(loaded.some((u) => u.includes('/telemetry/telemetry.js')), 'the hook sees the plugin modules load');
    t.deepEqual(loaded.filter((u) => u.includes('@opentelemetry') || u.includes('span-export')), []);
    t.is(posts, 0);
  } finally {
    await h.close();
    await pp.close();
    await new Promise<void>((r) => otel.close(() => r()));
  }
});
