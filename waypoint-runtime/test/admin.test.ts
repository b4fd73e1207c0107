import test from 'ava';
import { request } from 'undici';
import { Waypoint } from '../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };

test('admin listeners: readiness 503 until the first snapshot, then 200; not ready once draining; metrics on both paths; 404 elsewhere', async (t) => {
  const waypoint = new Waypoint({ identity: { name: 'waypoint', namespace: 'default' }, accessLog: { write: () => {} }, logger: quiet });
  await waypoint.start();
  const ports = await waypoint.listen({ readiness: { port: 0, host: '127.0.0.1' }, metrics: { port: 0, host: '127.0.0.1' } });
  const get = async (port: number | undefined, path: string) => {
    const r = await request(`http://127.0.0.1:${port}${path}`);
    return { status: r.statusCode, type: r.headers['content-type'], body: await r.body.text() };
  };
  try {
    t.deepEqual(await get(ports.readiness, '/healthz/ready'), { status: 503, type: 'text/plain', body: 'not ready\n' });
    waypoint.apply({ mesh: { services: [], workloads: [] }, resources: [] });
    t.deepEqual(await get(ports.readiness, '/healthz/ready?verbose'), { status: 200, type: 'text/plain', body: 'ready\n' });
    t.deepEqual(await get(ports.readiness, '/stats/prometheus'), { status: 404, type: 'text/plain', body: 'not found\n' });
    waypoint.metrics.counter({ name: 'admin_probe_total', help: 'a probe' }).inc();
    for (const path of ['/stats/prometheus', '/metrics']) {
      const m = await get(ports.metrics, path);
      t.is(m.status, 200);
      t.is(m.type, 'text/plain; version=0.0.4');
      t.regex(m.body, /^# /);
      t.regex(m.body, /admin_probe_total/);
    }
    t.deepEqual(await get(ports.metrics, '/healthz/ready'), { status: 404, type: 'text/plain', body: 'not found\n' });
  } finally {
    const closing = waypoint.close(200);
    t.false(waypoint.ready);
    await closing;
  }
});
