// The mesh watcher against an in-memory API on loopback: ReferenceGrants are watched, and one added or deleted
// later changes what the waypoint is sent.
import test from 'ava';
import { KubeClient } from '../src/kube/client.js';
import { MeshWatcher } from '../src/mesh/watch.js';
import type { MeshModel } from '../src/mesh/model.js';
import { FakeApiServer } from './fake-apiserver.js';
import { waypointGateway } from './mesh-fixtures.js';

const GW = '/apis/gateway.networking.k8s.io/v1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

test('a ReferenceGrant for a waypoint-Gateway route is watched: added or deleted later, the waypoint resources follow', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  t.teardown(() => api.stop());
  // The pinned Gateway API CRDs serve ReferenceGrant as v1 and v1beta1 (same objects).
  api.groups.set('gateway.networking.k8s.io', new Map([['v1', ['gateways', 'gatewayclasses', 'httproutes', 'referencegrants']], ['v1beta1', ['referencegrants']]]));
  api.put(`${GW}/gatewayclasses`, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'istio-waypoint' }, spec: { controllerName: 'istio.io/mesh-controller' } });
  api.put(`${GW}/gateways`, waypointGateway('waypoint') as never);
  api.put(`${GW}/httproutes`, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'to-remote', namespace: 'default' },
    spec: { parentRefs: [{ name: 'waypoint' }], rules: [{ backendRefs: [{ name: 'echo', namespace: 'remote', port: 80 }] }] },
  });
  const grant = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'ReferenceGrant',
    metadata: { name: 'allow-default', namespace: 'remote' },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: '', kind: 'Service' }] },
  };
  api.put(`${GW}/referencegrants`, grant);

  let model: MeshModel | undefined;
  const watcher = new MeshWatcher({ client, onModel: (m) => (model = m), debounceMs: 5, maxDelayMs: 20 });
  t.teardown(() => watcher.stop());
  await watcher.start();
  const sent = () => (model?.waypoints.get('default/waypoint')?.resources ?? []).filter((r) => r.kind === 'ReferenceGrant').map((r) => `${r.metadata.namespace}/${r.metadata.name}`);
  t.true(watcher.stats.watching.includes('referenceGrants'));
  t.deepEqual(sent(), ['remote/allow-default']);

  api.remove(`${GW}/referencegrants`, 'allow-default');
  await until(() => sent().length === 0);
  t.deepEqual(sent(), []);

  api.put(`${GW}/referencegrants`, grant);
  await until(() => sent().length === 1);
  t.deepEqual(sent(), ['remote/allow-default']);
});
