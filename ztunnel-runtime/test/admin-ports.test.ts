// What ztunnel's three admin ports answer, path by path, as Istio's ztunnel serves them: :15000 (config_dump,
// readiness, quitquitquit), :15021 (readiness only), :15020 (Prometheus text on two paths); 404 elsewhere.
import test from 'ava';
import { AdminServers } from '../src/index.js';

const at = { host: '127.0.0.1', port: 0 };

test('admin, readiness and stats ports: each path, status, content-type and body', async (t) => {
  let ready = false;
  let quits = 0;
  const admin = new AdminServers({ ready: () => ready, configDump: () => ({ workloads: [] }), metrics: () => '# TYPE x counter\nx 1\n', quit: () => quits++ });
  const ports = await admin.start({ admin: at, readiness: at, stats: at });
  t.teardown(() => admin.close());
  const get = async (port: number | undefined, path: string, method = 'GET') => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
  };
  const notFound = { status: 404, type: 'text/plain', body: 'not found\n' };
  const notReady = { status: 503, type: 'text/plain', body: 'not ready\n' };

  t.deepEqual(await get(ports.readiness, '/healthz/ready'), notReady);
  t.deepEqual(await get(ports.admin, '/healthz/ready'), notReady);
  ready = true;
  t.deepEqual(await get(ports.readiness, '/healthz/ready?x'), { status: 200, type: 'text/plain', body: 'ready\n' });
  t.deepEqual(await get(ports.readiness, '/config_dump'), notFound);

  t.deepEqual(await get(ports.admin, '/config_dump'), { status: 200, type: 'application/json', body: '{\n  "workloads": []\n}' });
  t.deepEqual(await get(ports.admin, '/metrics'), notFound);

  for (const path of ['/metrics', '/stats/prometheus']) {
    t.deepEqual(await get(ports.stats, path), { status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: '# TYPE x counter\nx 1\n' }, path);
  }
  t.deepEqual(await get(ports.stats, '/healthz/ready'), notFound);

  t.deepEqual(await get(ports.admin, '/quitquitquit', 'POST'), { status: 200, type: null, body: 'OK\n' });
  t.is(quits, 1, 'quit is called once the answer is written');
});

test('a config_dump that throws answers 500 with the reason, and the port keeps serving', async (t) => {
  let fail = true;
  const admin = new AdminServers({
    ready: () => true,
    configDump: () => {
      if (fail) throw new Error('store unavailable');
      return {};
    },
    metrics: () => '',
  });
  const ports = await admin.start({ admin: at });
  t.teardown(() => admin.close());
  const r = await fetch(`http://127.0.0.1:${ports.admin}/config_dump`);
  t.deepEqual([r.status, r.headers.get('content-type'), await r.text()], [500, 'text/plain', 'store unavailable\n']);
  fail = false;
  t.is((await fetch(`http://127.0.0.1:${ports.admin}/config_dump`)).status, 200);
});
