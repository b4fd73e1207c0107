import test from 'ava';
import { MeshStore, type MeshChange as ChangeEvent } from '@ambit/mesh-api';
import { parseLocalConfig } from '../src/index.js';

const yaml = `
workloads:
- uid: cluster1//v1/Pod/default/local
  name: local
  namespace: default
  serviceAccount: default
  workloadIps: ["127.0.0.1"]
  protocol: HBONE
  node: local
  network: ""
  waypoint: {destination: "/10.0.0.9", hboneMtlsPort: 15008}
  services: {"default/example.com": {80: 8080}}
  authorizationPolicies: [default/sel]
services:
- name: local
  namespace: default
  hostname: example.com
  vips: ["/127.10.0.1"]
  ports: {80: 8080}
  subjectAltNames: ["spiffe://cluster.local/ns/default/sa/local"]
  canonical: true
policies:
- name: deny-9999
  namespace: default
  scope: Namespace
  action: Allow
  dryRun: false
  rules: [[[ {notDestinationPorts: [9999]} ]]]
- name: global
  namespace: istio-system
  scope: Global
  action: Deny
  dryRun: false
  rules: [[[ {principals: [{Exact: x}], namespaces: [{Presence: []}]} ]]]
- name: sel
  namespace: default
  scope: WorkloadSelector
  action: Deny
  dryRun: false
  rules: []
- name: other-ns
  namespace: other
  scope: Namespace
  action: Deny
  dryRun: false
`;

test("parses Istio's local config example", (t) => {
  const cfg = parseLocalConfig(yaml);
  t.is(cfg.workloads?.[0]?.protocol, 'HBONE');
  t.deepEqual(cfg.workloads?.[0]?.services, { 'default/example.com': { '80': 8080 } });
  t.deepEqual(cfg.policies?.[1]?.rules, [[[{ principals: [{ Exact: 'x' }], namespaces: [{ Presence: [] }] }]]]);
});

test('unknown fields are rejected, naming the field', (t) => {
  t.throws(() => parseLocalConfig('workloads:\n- namespace: a\n  workloadIps: [1.1.1.1]\n  fooBar: 1\n'), { message: /^workloads\[0\]: unknown field `fooBar`/ });
  t.throws(() => parseLocalConfig('bogus: 1\n'), { message: /unknown field `bogus`/ });
  t.throws(() => parseLocalConfig('policies:\n- {name: a, namespace: b, scope: Namespace, action: Allow, dryRun: false, rules: [[[{ports: [1]}]]]}\n'), {
    message: /policies\[0\]\.rules\[0\]\[0\]\[0\]: unknown field `ports`/,
  });
  t.throws(() => parseLocalConfig('workloads:\n- namespace: a\n'), { message: /missing field `workloadIps`/ });
  t.throws(() => parseLocalConfig('workloads:\n- {namespace: a, workloadIps: [1.1.1.1], protocol: QUIC}\n'), { message: /unknown variant `QUIC`/ });
});

test('store indexes by uid, IP, VIP and key; endpoints from workload services; candidate policies', (t) => {
  const s = new MeshStore();
  s.applyFull(parseLocalConfig(yaml));
  const w = s.workloadByIp('127.0.0.1')!;
  t.is(w.name, 'local');
  const svc = s.serviceByAddress('127.10.0.1')!;
  t.is(svc.hostname, 'example.com');
  t.is(s.service('default/example.com'), svc);
  t.deepEqual(
    s.endpoints(svc).map((e) => [e.workload.uid, e.ports]),
    [['cluster1//v1/Pod/default/local', { '80': 8080 }]],
  );
  t.deepEqual(
    s
      .policiesFor(w)
      .map((p) => `${p.namespace}/${p.name}`)
      .sort(),
    ['default/deny-9999', 'default/sel', 'istio-system/global'],
  );
});

test('deltas update indexes and emit change events', (t) => {
  const s = new MeshStore();
  s.applyFull(parseLocalConfig(yaml));
  const events: ChangeEvent[] = [];
  s.on('change', (e: ChangeEvent) => events.push(e));
  s.applyDelta({ workloads: [{ uid: 'u2', name: 'w2', namespace: 'default', serviceAccount: 'sa', workloadIps: ['127.0.0.2'], protocol: 'TCP' }] }, { policies: ['default/deny-9999'], services: ['default/example.com'] });
  t.is(s.workloadByIp('127.0.0.2')?.uid, 'u2');
  t.is(s.serviceByAddress('127.10.0.1'), undefined);
  t.is(s.policies.get('default/deny-9999'), undefined);
  t.deepEqual(events, [{ workloads: ['u2'], services: ['default/example.com'], policies: ['default/deny-9999'], full: false }]);
  s.applyDelta({}, { workloads: ['u2'] });
  t.is(s.workloadByIp('127.0.0.2'), undefined);
});
