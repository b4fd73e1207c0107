import test from 'ava';
import type { V1Container } from '@kubernetes/client-node';
import { probeCommand, probeOutcome, resolvePort } from '../src/node/probes.js';

const container: V1Container = { name: 'web', ports: [{ name: 'http', containerPort: 8080 }] };
const target = { netns: 'ambit-u1', podIP: '10.244.1.5', pid: 42, env: {}, workingDir: '/' };

test('named ports resolve through the container ports', (t) => {
  t.is(resolvePort('http', container), 8080);
  t.is(resolvePort(9090, container), 9090);
  t.is(resolvePort('9091', container), 9091);
  t.is(resolvePort('metrics', container), undefined);
});

test('httpGet runs curl inside the pod network namespace against the pod IP', (t) => {
  const argv = probeCommand({ httpGet: { path: 'healthz', port: 'http', httpHeaders: [{ name: 'X-A', value: 'b' }] }, timeoutSeconds: 2 }, container, target);
  t.deepEqual(argv?.slice(0, 4), ['nsenter', '--net=/run/netns/ambit-u1', '--', 'curl']);
  t.is(argv?.at(-1), 'http://10.244.1.5:8080/healthz');
  t.true(argv!.includes('X-A: b'));
  t.true(argv!.includes('User-Agent: kube-probe/1.36'));
  t.is(argv![argv!.indexOf('-m') + 1], '2');
  t.true(probeOutcome({ httpGet: { port: 1 } }, 0, '204'));
  t.true(probeOutcome({ httpGet: { port: 1 } }, 0, '302'));
  t.false(probeOutcome({ httpGet: { port: 1 } }, 0, '503'));
  t.false(probeOutcome({ httpGet: { port: 1 } }, 7, '000'));
});

test('tcpSocket connects from the pod namespace; exec enters the container; hostNetwork needs no netns', (t) => {
  t.deepEqual(probeCommand({ tcpSocket: { port: 8080 } }, container, target), [
    'nsenter', '--net=/run/netns/ambit-u1', '--', 'timeout', '1', 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', '10.244.1.5', '8080',
  ]);
  t.deepEqual(probeCommand({ exec: { command: ['cat', '/tmp/healthy'] } }, container, target), [
    'timeout', '1', 'nsenter', '--target=42', '--mount', '--net', '--uts', '--wd', '--', 'cat', '/tmp/healthy',
  ]);
  t.is(probeCommand({ tcpSocket: { port: 53 } }, container, { ...target, netns: undefined, podIP: '127.0.1.1' })?.[0], 'timeout');
  t.is(probeCommand({ exec: { command: ['true'] } }, container, { ...target, pid: undefined }), undefined);
});
