import test from 'ava';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, expandVars, resolveEnv, serviceLinkEnv, type DataLookup } from '../src/node/env.js';
import { parseQuantity, podFieldValue, resourceFieldValue } from '../src/node/fieldpath.js';

const pod: V1Pod = {
  metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web', tier: 'front' }, annotations: { note: 'x' } },
  spec: { nodeName: 'ambit-node-1', serviceAccountName: 'web-sa', containers: [] },
};
const info = { podIP: '10.244.1.5', hostIP: '127.0.1.1', nodeName: 'ambit-node-1' };
const lookup: DataLookup = {
  configMap: async (name) => (name === 'cfg' ? { greeting: 'hello', 'log.level': 'debug', '1bad': 'x' } : undefined),
  secret: async (name) => (name === 'sec' ? { password: 's3cret' } : undefined),
};

test('$(VAR) expansion follows Kubernetes: known names, $$ escapes, unknown kept', (t) => {
  const vars = { A: 'x', B: 'y' };
  t.is(expandVars('$(A)-$(B)', vars), 'x-y');
  t.is(expandVars('$$(A)', vars), '$(A)');
  t.is(expandVars('$(C) and $A', vars), '$(C) and $A');
  t.is(expandVars('$(A', vars), '$(A');
});

test('downward API fields', (t) => {
  t.is(podFieldValue(pod, 'metadata.name', info), 'web-1');
  t.is(podFieldValue(pod, 'metadata.namespace', info), 'shop');
  t.is(podFieldValue(pod, 'metadata.uid', info), 'u-1');
  t.is(podFieldValue(pod, "metadata.labels['tier']", info), 'front');
  t.is(podFieldValue(pod, 'metadata.labels', info), 'app="web"\ntier="front"');
  t.is(podFieldValue(pod, 'status.podIP', info), '10.244.1.5');
  t.is(podFieldValue(pod, 'status.hostIP', info), '127.0.1.1');
  t.is(podFieldValue(pod, 'spec.nodeName', info), 'ambit-node-1');
  t.is(podFieldValue(pod, 'spec.serviceAccountName', info), 'web-sa');
  t.throws(() => podFieldValue(pod, 'spec.bogus', info));
});

test('resource fields: limits, requests, divisors, node allocatable when unlimited', (t) => {
  const c: V1Container = { name: 'c', resources: { limits: { memory: '128Mi' }, requests: { cpu: '250m' } } };
  t.is(resourceFieldValue(c, 'limits.memory'), String(128 * 2 ** 20));
  t.is(resourceFieldValue(c, 'limits.memory', '1Mi'), '128');
  t.is(resourceFieldValue(c, 'requests.cpu', '1m'), '250');
  t.is(resourceFieldValue(c, 'requests.cpu'), '1');
  t.is(resourceFieldValue(c, 'limits.cpu'), '8');
  t.is(parseQuantity('16Gi'), 16 * 2 ** 30);
});

test('env: values, references, envFrom with prefix, service variables', async (t) => {
  const c: V1Container = {
    name: 'c',
    envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'sec' } }],
    env: [
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } },
      { name: 'PW', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
      { name: 'MSG', value: '$(GREETING) from $(POD) at $(IP)' },
      { name: 'MISSING', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } },
    ],
  };
  const env = await resolveEnv(pod, c, info, lookup);
  t.is(env.POD, 'web-1');
  t.is(env.MSG, 'hello from web-1 at 10.244.1.5');
  t.is(env.PW, 's3cret');
  t.is(env.password, 's3cret');
  t.is(env['CFG_log.level'], 'debug');
  t.is(env.CFG_1bad, 'x');
  t.false('MISSING' in env);
  t.is(env.KUBERNETES_SERVICE_HOST, '10.96.0.1');
  t.is(env.KUBERNETES_SERVICE_PORT, '443');
});

test('a missing ConfigMap or key is a CreateContainerConfigError', async (t) => {
  const missingMap: V1Container = { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] };
  const e1 = await t.throwsAsync(resolveEnv(pod, missingMap, info, lookup), { instanceOf: ContainerConfigError });
  t.is(e1?.message, 'configmap "nope" not found');
  const missingKey: V1Container = { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'sec', key: 'user' } } }] };
  await t.throwsAsync(resolveEnv(pod, missingKey, info, lookup), { message: /couldn't find key user in Secret shop\/sec/ });
});

test('service links: the docker-link variables of the namespace services', async (t) => {
  const links = serviceLinkEnv([
    { name: 'web-api', clusterIP: '10.96.3.4', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns-udp', port: 53, protocol: 'UDP' }] },
    { name: 'headless', clusterIP: 'None', ports: [{ port: 80 }] },
  ]);
  t.deepEqual(links, {
    WEB_API_SERVICE_HOST: '10.96.3.4',
    WEB_API_SERVICE_PORT: '80',
    WEB_API_SERVICE_PORT_HTTP: '80',
    WEB_API_SERVICE_PORT_DNS_UDP: '53',
    WEB_API_PORT: 'tcp://10.96.3.4:80',
    WEB_API_PORT_80_TCP: 'tcp://10.96.3.4:80',
    WEB_API_PORT_80_TCP_PROTO: 'tcp',
    WEB_API_PORT_80_TCP_PORT: '80',
    WEB_API_PORT_80_TCP_ADDR: '10.96.3.4',
    WEB_API_PORT_53_UDP: 'udp://10.96.3.4:53',
    WEB_API_PORT_53_UDP_PROTO: 'udp',
    WEB_API_PORT_53_UDP_PORT: '53',
    WEB_API_PORT_53_UDP_ADDR: '10.96.3.4',
  });
  const env = await resolveEnv({ ...pod, spec: { ...pod.spec!, enableServiceLinks: false } }, { name: 'c' }, info, {
    ...lookup,
    services: async () => [{ name: 'x', clusterIP: '10.96.0.9', ports: [{ port: 1 }] }],
  });
  t.false('X_SERVICE_HOST' in env);
});
