// `cni-agent` mode wired as main.ts runs it (runCniAgent), against a fake API server on loopback (empty lists, held
// watches, one pod, the DaemonSet present or gone) and temp dirs for the host's CNI dirs: it installs the plugin,
// becomes ready, serves the plugin socket, and on stop either leaves everything (restart) or uninstalls (the
// DaemonSet is gone). No root: probe SNAT off; the ZDS server listens in the temp dir.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { runCniAgent } from '../src/cni/index.js';
import { setLogSink } from '@ambit/mesh-api';

const BRIDGE = { cniVersion: '1.0.0', name: 'k8s-pod-network', plugins: [{ type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.244.1.0/24' } }] };

async function fakeApi(t: { teardown(fn: () => void): void }, state: { daemonSet: boolean }) {
  const held = new Set<http.ServerResponse>();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.searchParams.get('watch') ? ' watch' : ''}`);
    const json = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.searchParams.get('watch')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      held.add(res);
      return;
    }
    if (url.pathname === '/api/v1/namespaces') return json(200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    if (url.pathname === '/api/v1/pods') return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    if (url.pathname === '/api/v1/namespaces/default/pods/web') {
      return json(200, { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web', namespace: 'default', uid: 'u-web' }, spec: { nodeName: 'n1' }, status: { phase: 'Pending' } });
    }
    if (url.pathname === '/api/v1/namespaces/default') return json(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'default' } });
    if (url.pathname === '/apis/apps/v1/namespaces/istio-system/daemonsets/istio-cni-node' && state.daemonSet) {
      return json(200, { kind: 'DaemonSet', apiVersion: 'apps/v1', metadata: { name: 'istio-cni-node', namespace: 'istio-system' } });
    }
    json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const r of held) r.destroy();
    server.close();
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return { kc, requests };
}

function dirs(t: { teardown(fn: () => void): void }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ambit-cni-mode-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const d = { root, bin: path.join(root, 'bin'), conf: path.join(root, 'net.d'), sa: path.join(root, 'sa'), sock: path.join(root, 'run', 'pluginevent.sock'), ready: path.join(root, 'ready') };
  for (const x of [d.bin, d.conf, d.sa]) fs.mkdirSync(x, { recursive: true });
  fs.writeFileSync(path.join(d.sa, 'token'), 'sa-token\n');
  fs.writeFileSync(path.join(d.sa, 'ca.crt'), 'CA\n');
  fs.writeFileSync(path.join(d.conf, '10-bridge.conflist'), JSON.stringify(BRIDGE));
  const fakeNode = path.join(root, 'node');
  fs.writeFileSync(fakeNode, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  const env = {
    NODE_NAME: 'n1',
    POD_NAMESPACE: 'istio-system',
    MOUNTED_CNI_BIN_DIR: d.bin,
    MOUNTED_CNI_NET_DIR: d.conf,
    CNI_NET_DIR: '/etc/cni/net.d',
    CNI_EVENT_ADDRESS: d.sock,
    ZDS_SOCKET: path.join(root, 'ztunnel', 'ztunnel.sock'),
    READY_FILE: d.ready,
    PROBE_SNAT: 'false',
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
  };
  return { d, env, fakeNode };
}

function post(sock: string, p: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: p, method: 'POST' }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const lines: string[] = [];
test.before(() => void setLogSink((l) => lines.push(l)));

test.serial('cni-agent mode: installs, is ready, serves ADD; a restart (DaemonSet still there) leaves the plugin in place', async (t) => {
  const api = await fakeApi(t, { daemonSet: true });
  const { d, env, fakeNode } = dirs(t);
  const agent = await runCniAgent(env, api.kc, { serviceAccountDir: d.sa, nodeBinary: fakeNode, bundleLibraries: false });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : agent.stop())); // a failed assertion must not leave the agent running
  t.true(fs.existsSync(d.ready), 'ready file written');
  const conflist = JSON.parse(fs.readFileSync(path.join(d.conf, '10-bridge.conflist'), 'utf8'));
  t.deepEqual(conflist.plugins.map((p: { type: string }) => p.type), ['bridge', 'ambit-cni']);
  t.is(conflist.plugins[1].cni_event_address, d.sock);
  t.deepEqual(conflist.plugins[1].kubernetes.exclude_namespaces, ['kube-system', 'istio-system']);
  t.is(fs.statSync(path.join(d.conf, 'ZZZ-ambit-cni-kubeconfig')).mode & 0o777, 0o600);
  t.true(fs.existsSync(path.join(d.bin, 'ambit-cni')));
  const ev = { podName: 'web', podNamespace: 'default', podUid: 'u-web', netns: '/var/run/netns/cni-x', containerId: 'c', ifname: 'eth0', ips: ['10.244.1.7'] };
  t.deepEqual(await post(d.sock, '/cmdadd', ev), { status: 200, body: '{"enrolled":false,"reason":"not-selected"}' });
  t.true(api.requests.includes('GET /api/v1/pods watch'), 'watching this node’s pods');
  const zds = fs.statSync(env.ZDS_SOCKET);
  t.true(zds.isSocket(), 'ZDS socket listening for ztunnel');
  t.is(zds.mode & 0o777, 0o600);
  stopped = true;
  await agent.stop();
  t.false(fs.existsSync(env.ZDS_SOCKET), 'ZDS socket removed on stop');
  t.false(fs.existsSync(d.ready), 'not ready once stopping');
  t.true(fs.existsSync(path.join(d.bin, 'ambit-cni')), 'plugin kept');
  t.true(fs.readFileSync(path.join(d.conf, '10-bridge.conflist'), 'utf8').includes('ambit-cni'), 'entry kept');
  t.true(lines.some((l) => l.includes('agent stopping (restart or upgrade)')));
  t.false(lines.some((l) => l.includes('sa-token')), 'the token is never logged');
});

test.serial('cni-agent mode: SIGTERM with the DaemonSet gone uninstalls the plugin', async (t) => {
  const api = await fakeApi(t, { daemonSet: false });
  const { d, env, fakeNode } = dirs(t);
  const agent = await runCniAgent(env, api.kc, { serviceAccountDir: d.sa, nodeBinary: fakeNode, bundleLibraries: false });
  await agent.stop();
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(d.conf, '10-bridge.conflist'), 'utf8')), BRIDGE);
  t.deepEqual(fs.readdirSync(d.conf), ['10-bridge.conflist']);
  t.deepEqual(fs.readdirSync(d.bin), []);
  t.false(fs.existsSync(d.sock), 'socket removed');
  t.true(lines.some((l) => l.includes('DaemonSet istio-system/istio-cni-node is gone or being deleted: uninstalling the CNI plugin')));
});
