// The controller's monitoring port (istiod's 15014): /metrics and /stats/prometheus in Prometheus text, /healthz
// always ok, /ready and /healthz/ready following readiness, GET routes, leading slashes collapsed, 404 elsewhere.
import test from 'ava';
import { Registry } from '../src/kube/metrics.js';
import { startMonitoringServer } from '../src/kube/monitoring.js';

test('every path of the monitoring port: status, content-type and body', async (t) => {
  const registry = new Registry();
  registry.counter('probe_total', 'a probe').inc();
  let ready = false;
  let version = () => ({ contentType: 'text/plain; charset=utf-8', body: '1.0-unknown-unknown' });
  const server = await startMonitoringServer({ port: 0, host: '127.0.0.1', registry, ready: () => ready, routes: { '/version': () => version() } });
  t.teardown(() => server.close());
  const get = async (path: string, method = 'GET') => {
    const r = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
    return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
  };
  const metrics = { status: 200, type: 'text/plain; version=0.0.4', body: '# HELP probe_total a probe\n# TYPE probe_total counter\nprobe_total 1\n' };
  for (const path of ['/metrics', '/stats/prometheus', '//metrics?x']) t.deepEqual(await get(path), metrics, path);
  t.deepEqual(await get('/healthz'), { status: 200, type: 'text/plain', body: 'ok\n' });
  for (const path of ['/ready', '/healthz/ready']) t.deepEqual(await get(path), { status: 503, type: 'text/plain', body: 'not ready\n' }, path);
  ready = true;
  for (const path of ['/ready', '/healthz/ready']) t.deepEqual(await get(path), { status: 200, type: 'text/plain', body: 'ok\n' }, path);
  t.deepEqual(await get('//version'), { status: 200, type: 'text/plain; charset=utf-8', body: '1.0-unknown-unknown' });
  t.deepEqual(await get('/version', 'HEAD'), { status: 200, type: 'text/plain; charset=utf-8', body: '' });
  t.deepEqual(await get('/version', 'POST'), { status: 404, type: null, body: '' });
  t.deepEqual(await get('/nothing'), { status: 404, type: null, body: '' });
  version = () => {
    throw new Error('no build info');
  };
  t.deepEqual(await get('/version'), { status: 500, type: 'text/plain', body: 'no build info\n' });
  t.is((await get('/healthz')).status, 200, 'still serving');
});
