import test from 'ava';
import { InMemoryMeshState, type ServiceView, type WorkloadView } from '../src/index.js';

const KEY = 'default/reviews.default.svc.cluster.local';
/** A reviews pod in `default` (uid `c//Pod/default/<name>`, service account `reviews`). */
function wl(name: string, ip: string, extra: Partial<WorkloadView> = {}): WorkloadView {
  return { uid: `c//Pod/default/${name}`, name, namespace: 'default', serviceAccount: 'reviews', workloadIps: [ip], protocol: 'HBONE', ...extra };
}
const reviews = (extra: Partial<ServiceView> = {}): ServiceView => ({ name: 'reviews', namespace: 'default', hostname: 'reviews.default.svc.cluster.local', vips: ['/10.96.0.9'], ports: { 9080: 9080 }, ...extra });

// Istio's ztunnel rule, now the waypoint's too: a Service's inline endpoints do not hide the workloads that name it
// in their `services` map (before, a Service with inline endpoints used only those).
test('endpoints: inline entries and workloads naming the Service, Unhealthy left out', (t) => {
  const mesh = new InMemoryMeshState({
    services: [reviews({ endpoints: { a: { workloadUid: 'c//Pod/default/v1', port: { 9080: 9081 }, status: 'Healthy' }, b: { workloadUid: 'c//Pod/default/sick', port: { 9080: 9089 }, status: 'Unhealthy' } } })],
    workloads: [wl('v1', '10.0.0.1'), wl('sick', '10.0.0.9'), wl('v2', '10.0.0.2', { services: { [KEY]: { 9080: 9082 } } })],
  });
  const svc = mesh.serviceByName('default', 'reviews')!;
  t.deepEqual(
    mesh.endpoints(svc, 9080).map((e) => [e.address, e.port, e.identity]),
    [
      ['10.0.0.1', 9081, 'spiffe://cluster.local/ns/default/sa/reviews'],
      ['10.0.0.2', 9082, 'spiffe://cluster.local/ns/default/sa/reviews'],
    ],
  );
});

test('a Service whose health policy is AllowAll gets its Unhealthy endpoints too', (t) => {
  const mesh = new InMemoryMeshState({
    services: [reviews({ loadBalancer: { healthPolicy: 'AllowAll' } })],
    workloads: [wl('sick', '10.0.0.9', { status: 'Unhealthy', services: { [KEY]: { 9080: 9089 } } })],
  });
  t.deepEqual(
    mesh.endpoints(mesh.serviceByAddress('10.96.0.9')!, 9080).map((e) => `${e.address}:${e.port}`),
    ['10.0.0.9:9089'],
  );
});

test('a delta on the store changes the endpoints at once (the per-port cache is dropped) and bumps the version', (t) => {
  const mesh = new InMemoryMeshState({ services: [reviews()], workloads: [wl('v1', '10.0.0.1', { services: { [KEY]: { 9080: 9081 } } })] });
  const svc = mesh.serviceByHostname('reviews.default.svc.cluster.local')!;
  t.deepEqual(
    mesh.endpoints(svc, 9080).map((e) => e.address),
    ['10.0.0.1'],
  );
  const v = mesh.version;
  mesh.store.applyDelta({ workloads: [wl('v2', '10.0.0.2', { services: { [KEY]: { 9080: 9082 } } })] }, { workloads: ['c//Pod/default/v1'] });
  t.is(mesh.version, v + 1);
  t.deepEqual(
    mesh.endpoints(svc, 9080).map((e) => e.address),
    ['10.0.0.2'],
  );
  t.is(mesh.workloadByAddress('10.0.0.1'), undefined);
  t.is(mesh.workloadByAddress('10.0.0.2')?.name, 'v2');
});

// As Istio's ztunnel: an endpoint needs a target port. Before, the waypoint sent to the service port instead.
test('a named target port a pod lacks, or a port the Service does not declare, gives that pod no endpoint', (t) => {
  const mesh = new InMemoryMeshState({
    services: [reviews({ ports: { 9080: 0 } })],
    workloads: [wl('named', '10.0.0.1', { services: { [KEY]: { 9080: 8080 } } }), wl('lacks', '10.0.0.2', { services: { [KEY]: {} } })],
  });
  const svc = mesh.serviceByName('default', 'reviews')!;
  t.deepEqual(mesh.endpoints(svc, 9080).map((e) => `${e.address}:${e.port}`), ['10.0.0.1:8080']);
  t.deepEqual(mesh.endpoints(svc, 9999), [], 'port 9999 is not one of the Service\'s');
});

test('applyDelta: by key, removals then upserts; only a Service change (or a whole replacement) moves servicesVersion', (t) => {
  const mesh = new InMemoryMeshState({ services: [reviews()], workloads: [wl('v1', '10.0.0.1', { services: { [KEY]: { 9080: 9081 } } })] });
  const svc = () => mesh.serviceByName('default', 'reviews')!;
  const { version: v, servicesVersion: sv } = mesh;
  mesh.applyDelta({ workloads: [wl('v2', '10.0.0.2', { services: { [KEY]: { 9080: 9082 } } })] }, { workloads: ['c//Pod/default/v1'] });
  t.deepEqual(mesh.endpoints(svc(), 9080).map((e) => `${e.address}:${e.port}`), ['10.0.0.2:9082']);
  t.deepEqual([mesh.version, mesh.servicesVersion], [v + 1, sv], 'workloads only');
  mesh.applyDelta({ services: [reviews({ ports: { 9080: 9080, 9090: 9090 } })] });
  t.deepEqual(Object.keys(svc().ports), ['9080', '9090']);
  t.deepEqual([mesh.version, mesh.servicesVersion], [v + 2, sv + 1]);
  mesh.applyDelta({}, { services: [KEY] });
  t.is(mesh.serviceByHostname('reviews.default.svc.cluster.local'), undefined);
  t.is(mesh.servicesVersion, sv + 2);
  mesh.replace({ workloads: [] });
  t.is(mesh.servicesVersion, sv + 3);
});
