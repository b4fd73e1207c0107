// The waypoint picks endpoints by the mesh model's one rule (Istio's ztunnel): a Service's inline endpoints do not
// hide the workloads naming it in their `services` map, and AllowAll lets Unhealthy endpoints take traffic.
import test from 'ava';
import { request } from 'undici';
import { echo, service, startWaypoint, workload } from './helpers.js';

const KEY = 'default/reviews.default.svc.cluster.local';

async function get(url: string, host: string) {
  const r = await request(url + '/', { headers: { host } });
  return { status: r.statusCode, body: await r.body.text() };
}

test("a workload naming the Service takes traffic although the Service's inline endpoints do not list it", async (t) => {
  const fresh = await echo('fresh');
  const svc = { ...service('reviews', '10.96.0.31', { 9080: 0 }), endpoints: { old: { workloadUid: 'Kubernetes//Pod/default/old', port: { 9080: 1 }, status: 'Unhealthy' as const } } };
  const mesh = { services: [svc], workloads: [workload('old', '127.0.0.1', 'r', {}), workload('fresh', '127.0.0.1', 'r', { [KEY]: { 9080: fresh.port } })] };
  const h = await startWaypoint(mesh);
  try {
    const r = await get(h.url, 'reviews:9080');
    t.is(r.status, 200);
    t.is(JSON.parse(r.body).server, 'fresh');
  } finally {
    await h.close();
    await fresh.close();
  }
});

test('a Service with health policy AllowAll sends to its Unhealthy endpoint; without it, 503', async (t) => {
  const sick = await echo('sick');
  const svc = service('reviews', '10.96.0.31', { 9080: 0 });
  const workloads = [workload('sick', '127.0.0.1', 'r', { [KEY]: { 9080: sick.port } }, { status: 'Unhealthy' })];
  const allowAll = await startWaypoint({ services: [{ ...svc, loadBalancer: { healthPolicy: 'AllowAll' } }], workloads });
  const onlyHealthy = await startWaypoint({ services: [svc], workloads });
  try {
    const r = await get(allowAll.url, 'reviews:9080');
    t.is(r.status, 200);
    t.is(JSON.parse(r.body).server, 'sick');
    t.is((await get(onlyHealthy.url, 'reviews:9080')).status, 503);
  } finally {
    await allowAll.close();
    await onlyHealthy.close();
    await sick.close();
  }
});
