// The installer on temp dirs standing in for the host's /opt/cni/bin and /etc/cni/net.d: plugin files + wrapper,
// the 0600 kubeconfig, our entry in the primary conflist; a rewrite by the primary CNI is undone by the watcher;
// a config that appears later is picked up; uninstall removes all of it and leaves the primary CNI's config as it was.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { CniInstaller, apiServerFromEnv, parseCniAgentConfig } from '../src/cni/index.js';

const BRIDGE = { cniVersion: '1.0.0', name: 'ambit', plugins: [{ type: 'bridge', bridge: 'ambit0', ipam: { type: 'host-local', subnet: '10.244.1.0/24' } }, { type: 'portmap', capabilities: { portMappings: true } }] };

function setup(t: { teardown(fn: () => void): void }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ambit-cni-inst-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const bin = path.join(root, 'opt-cni-bin');
  const conf = path.join(root, 'etc-cni-net.d');
  fs.mkdirSync(bin);
  fs.mkdirSync(conf);
  fs.writeFileSync(path.join(bin, 'bridge'), 'the bridge plugin');
  const fakeNode = path.join(root, 'node');
  fs.writeFileSync(fakeNode, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  let token = 'token-1';
  const readyChanges: boolean[] = [];
  const lines: string[] = [];
  const installer = new CniInstaller({
    binDir: bin,
    confDir: conf,
    hostConfDir: '/etc/cni/net.d',
    excludeNamespaces: ['kube-system', 'istio-system'],
    nodeBinary: fakeNode,
    kubeconfigSource: () => ({ server: 'https://10.96.0.1:443', token, caData: Buffer.from('CA PEM').toString('base64') }),
    checkIntervalMs: 200,
    log: { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => undefined },
    onReadyChange: (r) => readyChanges.push(r),
  });
  t.teardown(() => installer.stop());
  return { bin, conf, installer, readyChanges, lines, setToken: (s: string) => (token = s) };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting: ${what}`);
}

const types = (file: string) => (JSON.parse(fs.readFileSync(file, 'utf8')) as { plugins: { type: string }[] }).plugins.map((p) => p.type);

test('install: files, wrapper, kubeconfig (0600, token), entry last in the primary conflist; ready', async (t) => {
  const s = setup(t);
  const file = path.join(s.conf, '10-ambit.conflist');
  fs.writeFileSync(file, JSON.stringify(BRIDGE));
  await s.installer.start();
  t.true(s.installer.ready);
  t.deepEqual(s.readyChanges, [true]);
  t.deepEqual(types(file), ['bridge', 'portmap', 'ambit-cni']);
  const entry = JSON.parse(fs.readFileSync(file, 'utf8')).plugins[2];
  t.deepEqual(entry, {
    type: 'ambit-cni',
    cni_event_address: '/var/run/istio-cni/pluginevent.sock',
    kubernetes: { kubeconfig: '/etc/cni/net.d/ZZZ-ambit-cni-kubeconfig', exclude_namespaces: ['kube-system', 'istio-system'] },
  });
  const wrapper = fs.readFileSync(path.join(s.bin, 'ambit-cni'), 'utf8');
  t.true(wrapper.startsWith('#!/bin/sh\n'));
  t.is(fs.statSync(path.join(s.bin, 'ambit-cni')).mode & 0o777, 0o755);
  const kcFile = path.join(s.conf, 'ZZZ-ambit-cni-kubeconfig');
  t.is(fs.statSync(kcFile).mode & 0o777, 0o600);
  const kc = JSON.parse(fs.readFileSync(kcFile, 'utf8'));
  t.is(kc.clusters[0].cluster.server, 'https://10.96.0.1:443');
  t.is(kc.users[0].user.token, 'token-1');
  t.false(s.lines.some((l) => l.includes('token-1')), 'the token is never logged');
  t.true(s.lines.includes(`inserted ambit-cni into ${file}`));
});

test('a config rewritten by the primary CNI gets the entry back; a rotated token reaches the kubeconfig', async (t) => {
  const s = setup(t);
  const file = path.join(s.conf, '10-ambit.conflist');
  fs.writeFileSync(file, JSON.stringify(BRIDGE));
  await s.installer.start();
  fs.writeFileSync(file, JSON.stringify(BRIDGE)); // rewritten in place, our entry gone
  await until(() => types(file).includes('ambit-cni'), 'entry re-inserted');
  t.deepEqual(types(file), ['bridge', 'portmap', 'ambit-cni']);
  t.true(s.lines.includes(`CNI config ${file} was rewritten; inserted ambit-cni again`));
  s.setToken('token-2');
  const kcFile = path.join(s.conf, 'ZZZ-ambit-cni-kubeconfig');
  await until(() => fs.readFileSync(kcFile, 'utf8').includes('token-2'), 'kubeconfig refreshed');
  t.is(fs.statSync(kcFile).mode & 0o777, 0o600);
  // Plugin files deleted behind our back come back too.
  fs.rmSync(path.join(s.bin, 'ambit-cni'));
  await until(() => fs.existsSync(path.join(s.bin, 'ambit-cni')), 'wrapper restored');
});

test('no config yet: not ready, waits; the primary CNI writes a .conf later: converted, ready', async (t) => {
  const s = setup(t);
  await s.installer.start();
  t.false(s.installer.ready);
  t.true(s.lines.some((l) => l.startsWith('no CNI config in ')));
  fs.writeFileSync(path.join(s.conf, '10-mynet.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'mynet', type: 'bridge', bridge: 'cni0' }));
  await until(() => s.installer.ready, 'ready');
  t.deepEqual(fs.readdirSync(s.conf).sort(), ['10-mynet.conflist', 'ZZZ-ambit-cni-kubeconfig']);
  t.deepEqual(types(path.join(s.conf, '10-mynet.conflist')), ['bridge', 'ambit-cni']);
});

test('garbage primary config: not ready, one clear error line; fixed file: ready', async (t) => {
  const s = setup(t);
  const file = path.join(s.conf, '10-x.conflist');
  fs.writeFileSync(file, '{garbage');
  await s.installer.start();
  t.false(s.installer.ready);
  t.is(s.lines.filter((l) => l.startsWith('10-x.conflist: not valid JSON')).length, 1);
  fs.writeFileSync(file, JSON.stringify(BRIDGE));
  await until(() => s.installer.ready, 'ready after the fix');
});

test('uninstall: entry, plugin files and kubeconfig removed; the rest of the dirs untouched', async (t) => {
  const s = setup(t);
  const file = path.join(s.conf, '10-ambit.conflist');
  fs.writeFileSync(file, JSON.stringify(BRIDGE));
  await s.installer.start();
  s.installer.uninstall();
  t.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), BRIDGE);
  t.deepEqual(fs.readdirSync(s.conf), ['10-ambit.conflist']);
  t.deepEqual(fs.readdirSync(s.bin), ['bridge']);
  t.false(s.installer.ready);
  t.deepEqual(s.readyChanges, [true, false]);
});

test('agent config: defaults are Istio’s paths; bad values are one clear line', (t) => {
  const c = parseCniAgentConfig({ NODE_NAME: 'n1', POD_NAMESPACE: 'istio-system' });
  t.is(c.mountedBinDir, '/host/opt/cni/bin');
  t.is(c.mountedConfDir, '/host/etc/cni/net.d');
  t.is(c.hostConfDir, '/etc/cni/net.d');
  t.is(c.eventSocket, '/var/run/istio-cni/pluginevent.sock');
  t.is(c.zdsSocket, '/var/run/ztunnel/ztunnel.sock');
  t.deepEqual(c.excludeNamespaces, ['kube-system', 'istio-system']);
  t.throws(() => parseCniAgentConfig({}), { message: 'NODE_NAME is not set: set it from the pod spec (fieldRef spec.nodeName)' });
  t.throws(() => parseCniAgentConfig({ NODE_NAME: 'n', CNI_NET_DIR: 'etc/cni' }), { message: 'CNI_NET_DIR=etc/cni must be an absolute path' });
  t.throws(() => parseCniAgentConfig({ NODE_NAME: 'n', PROBE_SNAT: 'maybe' }), { message: 'PROBE_SNAT=maybe must be true or false' });
  t.is(apiServerFromEnv({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }), 'https://[fd00::1]:6443');
  t.throws(() => apiServerFromEnv({}), { message: /KUBERNETES_SERVICE_HOST is not set/ });
});
