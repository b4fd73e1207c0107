// The whole control plane (CA, config push, mesh model, waypoint controller, status writer) started by
// runController against the in-memory API: each resource kind is listed and watched once, however many
// components read it.
import test from 'ava';
import { runController } from '../src/control-plane.js';
import { KubeClient } from '../src/kube/client.js';
import { nullLogger } from '@ambit/mesh-api';
import { Registry } from '../src/kube/metrics.js';
import { FakeApiServer } from './fake-apiserver.js';

test('one informer per kind: every collection is listed once and watched once', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  api.groups.set('gateway.networking.k8s.io', new Map([['v1', ['gateways', 'gatewayclasses', 'httproutes']]]));
  api.put('/api/v1/namespaces', { metadata: { name: 'istio-system' } });
  api.put('/api/v1/namespaces', { metadata: { name: 'default' } });
  api.put('/api/v1/namespaces/default/services', { metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
  const ctl = await runController({ client, monitoringPort: -1, leaderElect: false, log: nullLogger, registry: new Registry(), env: { AMBIT_CA_PORT: '0' } });
  t.teardown(async () => {
    await ctl.stop();
    await api.stop();
  });
  t.deepEqual(
    ctl.components.map((c) => c.name),
    ['waypoint-controller', 'ca', 'config-push', 'mesh-model', 'status-writer'],
  );
  // Every kind read by more than one component, once.
  const keys = ctl.controlPlane.informers.keys();
  for (const kind of ['core/services', 'core/namespaces', 'core/endpointslices', 'gateway.networking.k8s.io/gateways', 'gateway.networking.k8s.io/gatewayclasses'])
    t.is(keys.filter((k) => k.split('|')[0] === kind.replace('core/endpointslices', 'discovery.k8s.io/endpointslices')).length, 1, kind);

  // What went over the wire: GETs of collections, by path and selectors, without the resourceVersion.
  const calls = (watch: boolean) => {
    const counts = new Map<string, number>();
    for (const r of api.requests) {
      const [method, target] = r.split(' ') as [string, string];
      const url = new URL(target, 'http://x');
      if (method !== 'GET' || (url.searchParams.get('watch') === 'true') !== watch) continue;
      if (!/\/(services|namespaces|endpointslices|gateways|gatewayclasses|pods|configmaps|deployments|serviceaccounts|httproutes)$/.test(url.pathname)) continue;
      const key = [url.pathname, url.searchParams.get('labelSelector') ?? '', url.searchParams.get('fieldSelector') ?? ''].filter(Boolean).join(' ');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const lists = calls(false);
  const watches = calls(true);
  for (const path of ['/api/v1/services', '/api/v1/namespaces', '/apis/discovery.k8s.io/v1/endpointslices', '/apis/gateway.networking.k8s.io/v1/gateways', '/apis/gateway.networking.k8s.io/v1/gatewayclasses', '/api/v1/pods']) {
    t.is(lists.get(path), 1, `list ${path}`);
    t.is(watches.get(path), 1, `watch ${path}`);
  }
  for (const [key, n] of lists) t.is(n, 1, `list ${key}`);
  for (const [key, n] of watches) t.is(n, 1, `watch ${key}`);
});
