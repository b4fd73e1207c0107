// A Gateway's spec.infrastructure.parametersRef: what the controller caches of ConfigMaps (keys, never values) and
// the status a Gateway gets as its ConfigMap appears and goes (golden cases cover the whole plan).
import test from 'ava';
import { configMapKeysOnly, planGateway, resolveInfrastructureParameters, type ConfigMapKeys, type Gateway } from '../src/gateway/index.js';

const gateway = (parametersRef: unknown): Gateway => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'gw', namespace: 'apps', generation: 3 },
  spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }], infrastructure: { parametersRef } },
});

test('the ConfigMap cache keeps names and keys, never values', (t) => {
  const cm = configMapKeysOnly({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'opts', namespace: 'apps', managedFields: [{}] }, data: { deployment: 'secret-ish: value' }, binaryData: { blob: 'AAAA' } } as ConfigMapKeys) as ConfigMapKeys;
  t.deepEqual(cm, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'opts', namespace: 'apps' }, data: { deployment: '' }, binaryData: { blob: '' } });
});

test('parametersRef: another kind or group is invalid, a ConfigMap is looked up in the Gateway namespace', (t) => {
  const none = () => undefined;
  t.is(resolveInfrastructureParameters(gateway(undefined), none).kind, 'none');
  t.is(resolveInfrastructureParameters(gateway({ group: 'example.io', kind: 'ConfigMap', name: 'x' }), none).kind, 'invalid');
  const asked: string[] = [];
  const r = resolveInfrastructureParameters(gateway({ group: '', kind: 'ConfigMap', name: 'opts' }), (ns, name) => {
    asked.push(`${ns}/${name}`);
    return { metadata: { name, namespace: ns }, data: {} };
  });
  t.deepEqual(asked, ['apps/opts']);
  t.deepEqual(r, { kind: 'configMap', note: 'spec.infrastructure.parametersRef ConfigMap apps/opts (no keys) is not applied: customising the rendered objects from a ConfigMap is not supported' });
});

test('a ConfigMap that appears turns Accepted True and renders the gateway; one that goes turns it False and renders nothing', (t) => {
  const gw = gateway({ group: '', kind: 'ConfigMap', name: 'opts' });
  const plan = (exists: boolean, now: string) => {
    const p = planGateway({ gateway: gw, existing: new Map(), endpointSlices: [], render: { version: '0.1.0' }, now, configMap: () => (exists ? { metadata: { name: 'opts', namespace: 'apps' } } : undefined) });
    if (p.action !== 'reconcile') throw new Error('ignored');
    return p;
  };
  const missing = plan(false, '2024-01-01T00:00:00Z');
  t.deepEqual(missing.apply, []);
  const accepted = () => gw.status?.conditions?.find((c) => c.type === 'Accepted');
  gw.status = missing.status;
  t.like(accepted(), { status: 'False', reason: 'InvalidParameters', observedGeneration: 3 });
  const found = plan(true, '2024-01-02T00:00:00Z');
  t.deepEqual(found.apply.map((o) => o.kind), ['ServiceAccount', 'Deployment', 'Service']);
  gw.status = found.status;
  t.like(accepted(), { status: 'True', reason: 'Accepted', lastTransitionTime: '2024-01-02T00:00:00Z' });
  // Unchanged: the transition time stays.
  t.like(plan(true, '2024-01-03T00:00:00Z').status.conditions?.find((c) => c.type === 'Accepted'), { lastTransitionTime: '2024-01-02T00:00:00Z' });
});
