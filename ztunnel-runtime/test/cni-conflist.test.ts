// The installer's CNI config handling on real files in a temp dir: insertion into a bridge+portmap conflist, a
// single-plugin .conf converted, a config rewritten by the primary CNI (re-inserted by the watcher), garbage, and
// removal on uninstall.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { CniConfigError, ensurePluginInConfig, insertPlugin, primaryConfigFile, removePlugin, removePluginFromConfigs } from '../src/cni/index.js';

const ENTRY = { type: 'ambit-cni', cni_event_address: '/var/run/istio-cni/pluginevent.sock', kubernetes: { kubeconfig: '/etc/cni/net.d/ZZZ-ambit-cni-kubeconfig', exclude_namespaces: ['kube-system', 'istio-system'] } };

const BRIDGE_CONFLIST = {
  cniVersion: '1.0.0',
  name: 'ambit',
  plugins: [
    { type: 'bridge', bridge: 'ambit0', isGateway: false, ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]] } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};
const BRIDGE_CONF = { cniVersion: '0.4.0', name: 'mynet', type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.22.0.0/16' } };

function tmpDir(t: { teardown(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ambit-cni-conf-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}
const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

test('primary config: first *.conflist / *.conf by name; other files and temp files ignored', (t) => {
  t.is(primaryConfigFile(['99-z.conflist', '10-bridge.conflist', '05-x.conf', 'ZZZ-ambit-cni-kubeconfig', '.10-a.conflist.tmp']), '05-x.conf');
  t.is(primaryConfigFile(['README', 'ZZZ-ambit-cni-kubeconfig', '10-x.yaml']), undefined);
  t.is(primaryConfigFile(['20-b.conflist', '10-a.json']), '10-a.json', 'libcni loads .json too');
});

test('conflist: our entry is appended after bridge and portmap, the rest unchanged; a second pass changes nothing', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, '10-ambit.conflist');
  fs.writeFileSync(file, JSON.stringify(BRIDGE_CONFLIST), { mode: 0o644 });
  t.deepEqual(ensurePluginInConfig(dir, ENTRY), { state: 'inserted', file });
  const got = readJson(file);
  t.deepEqual(got, { ...BRIDGE_CONFLIST, plugins: [...BRIDGE_CONFLIST.plugins, ENTRY] });
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  const before = fs.readFileSync(file, 'utf8');
  t.deepEqual(ensurePluginInConfig(dir, ENTRY), { state: 'present', file });
  t.is(fs.readFileSync(file, 'utf8'), before);
  t.deepEqual(fs.readdirSync(dir), ['10-ambit.conflist'], 'no temp file left behind');
});

test('a single-plugin .conf becomes a .conflist of the same base name with the plugin first, ours second', (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, '10-mynet.conf'), JSON.stringify(BRIDGE_CONF));
  const r = ensurePluginInConfig(dir, ENTRY);
  t.is(r.state, 'inserted');
  t.deepEqual(fs.readdirSync(dir), ['10-mynet.conflist']);
  const { cniVersion, name, ...plugin } = BRIDGE_CONF;
  t.deepEqual(readJson(path.join(dir, '10-mynet.conflist')), { cniVersion, name, plugins: [plugin, ENTRY] });
});

test('a single-plugin .json (libcni reads it like a .conf) is converted the same way', (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, '05-flannel.json'), JSON.stringify(BRIDGE_CONF));
  fs.writeFileSync(path.join(dir, '10-other.conflist'), JSON.stringify(BRIDGE_CONFLIST));
  t.is(ensurePluginInConfig(dir, ENTRY).state, 'inserted');
  t.deepEqual(fs.readdirSync(dir).sort(), ['05-flannel.conflist', '10-other.conflist']);
  t.deepEqual(readJson(path.join(dir, '05-flannel.conflist')).plugins.map((p: { type: string }) => p.type), ['bridge', 'ambit-cni']);
  t.deepEqual(readJson(path.join(dir, '10-other.conflist')), BRIDGE_CONFLIST, 'not the primary: untouched');
});

test('a config rewritten by the primary CNI (our entry gone, or an old entry of ours) gets exactly one entry, last', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, '10-ambit.conflist');
  fs.writeFileSync(file, JSON.stringify(BRIDGE_CONFLIST));
  ensurePluginInConfig(dir, ENTRY);
  // The primary CNI rewrites its file (e.g. a restart of its own agent): our entry is gone.
  fs.writeFileSync(file, JSON.stringify({ ...BRIDGE_CONFLIST, plugins: [BRIDGE_CONFLIST.plugins[0]] }));
  t.is(ensurePluginInConfig(dir, ENTRY).state, 'inserted');
  t.deepEqual(readJson(file).plugins.map((p: { type: string }) => p.type), ['bridge', 'ambit-cni']);
  // An old entry of ours in the middle, with other settings: replaced, moved last.
  const old = { type: 'ambit-cni', cni_event_address: '/old.sock' };
  fs.writeFileSync(file, JSON.stringify({ ...BRIDGE_CONFLIST, plugins: [BRIDGE_CONFLIST.plugins[0], old, BRIDGE_CONFLIST.plugins[1]] }));
  t.is(ensurePluginInConfig(dir, ENTRY).state, 'inserted');
  t.deepEqual(readJson(file).plugins, [...BRIDGE_CONFLIST.plugins, ENTRY]);
});

test('garbage: a clear error naming the file; nothing written', (t) => {
  for (const [raw, want] of [
    ['{not json', /10-x\.conflist: not valid JSON .*fix or remove the file/],
    ['[1,2]', /10-x\.conflist: expected a JSON object/],
    ['{"plugins": {"type": "bridge"}}', /"plugins" must be an array/],
    ['{"plugins": [{"name": "x"}]}', /plugins\[0\] has no "type"/],
    ['{"cniVersion": "1.0.0"}', /neither a conflist .* nor a plugin config/],
  ] as const) {
    const e = t.throws(() => insertPlugin('10-x.conflist', raw, ENTRY), { instanceOf: CniConfigError });
    t.regex(e!.message, want);
    t.false(e!.message.includes('\n'));
  }
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, '10-x.conflist'), '{not json');
  t.throws(() => ensurePluginInConfig(dir, ENTRY), { instanceOf: CniConfigError });
  t.is(fs.readFileSync(path.join(dir, '10-x.conflist'), 'utf8'), '{not json');
});

test('no config yet: reported, nothing created; a missing dir names what to mount', (t) => {
  const dir = tmpDir(t);
  t.deepEqual(ensurePluginInConfig(dir, ENTRY), { state: 'no-config' });
  t.deepEqual(fs.readdirSync(dir), []);
  t.throws(() => ensurePluginInConfig(path.join(dir, 'missing'), ENTRY), { message: /CNI config dir .*missing does not exist: mount the node's CNI config dir/ });
});

test('removal takes out only our entries, in every config file; garbage files are left alone', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, '10-ambit.conflist');
  fs.writeFileSync(file, JSON.stringify(BRIDGE_CONFLIST));
  ensurePluginInConfig(dir, ENTRY);
  fs.writeFileSync(path.join(dir, '20-other.conflist'), JSON.stringify({ ...BRIDGE_CONFLIST, plugins: [ENTRY] }));
  fs.writeFileSync(path.join(dir, '30-garbage.conf'), 'garbage');
  t.deepEqual(removePluginFromConfigs(dir).sort(), [file, path.join(dir, '20-other.conflist')]);
  t.deepEqual(readJson(file), BRIDGE_CONFLIST);
  t.deepEqual(readJson(path.join(dir, '20-other.conflist')).plugins, []);
  t.is(fs.readFileSync(path.join(dir, '30-garbage.conf'), 'utf8'), 'garbage');
  t.deepEqual(removePlugin('x.conflist', JSON.stringify(BRIDGE_CONFLIST)).changed, false);
});
