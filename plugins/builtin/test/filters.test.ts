import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { K8sObject, PluginBinding } from '@ambit/plugin-sdk';
import { createTestEnv, runChain } from '@ambit/plugin-sdk/testing';
import { PackageLoader, sri, WaypointPluginManager, type PluginPolicy, type WaypointPluginSpec } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'ambit-filters-test-'));

/** Build an npm-style tarball (`package/` prefix) from files; returns its path and SRI. */
function pack(name: string, version: string, source: string, extra: Record<string, unknown> = {}): { tarball: string; integrity: string } {
  const dir = mkdtempSync(join(work, 'src-'));
  mkdirSync(join(dir, 'package'));
  writeFileSync(join(dir, 'package', 'package.json'), JSON.stringify({ name, version, type: 'module', main: 'index.js', peerDependencies: { '@ambit/plugin-sdk': '*' }, ...extra }));
  writeFileSync(join(dir, 'package', 'index.js'), source);
  const tarball = join(work, `${name.replace(/\W/g, '_')}-${version}-${Math.random().toString(36).slice(2)}.tgz`);
  execFileSync('tar', ['-czf', tarball, '-C', dir, 'package']);
  return { tarball, integrity: sri(readFileSync(tarball)) };
}

/** The same with any files (paths under `package/`). */
function packFiles(name: string, version: string, files: Record<string, string>, extra: Record<string, unknown> = {}): { tarball: string; integrity: string } {
  const dir = mkdtempSync(join(work, 'src-'));
  writeFileSync(join(mkdirp(join(dir, 'package')), 'package.json'), JSON.stringify({ name, version, type: 'module', main: 'index.js', ...extra }));
  for (const [path, text] of Object.entries(files)) {
    mkdirp(dirname(join(dir, 'package', path)));
    writeFileSync(join(dir, 'package', path), text);
  }
  const tarball = join(work, `${name.replace(/\W/g, '_')}-${version}-${Math.random().toString(36).slice(2)}.tgz`);
  execFileSync('tar', ['-czf', tarball, '-C', dir, 'package']);
  return { tarball, integrity: sri(readFileSync(tarball)) };
}

function mkdirp(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}

const headerPlugin = (v: string) => `
import { inject, injectable, LOGGER } from '@ambit/plugin-sdk';
export class HeaderPlugin {
  constructor(logger) { this.logger = logger; this.name = 'header'; }
  onRequest(ctx) {
    this.logger.info('hello from ${v}');
    ctx.setRequestHeader('x-plugin', '${v}:' + (ctx.config?.value ?? ''));
  }
}
inject(LOGGER)(HeaderPlugin, undefined, 0);
injectable()(HeaderPlugin);
`;

function resource(name: string, spec: WaypointPluginSpec, namespace = 'default'): K8sObject<WaypointPluginSpec> {
  return { apiVersion: 'extensions.ambit.dev/v1alpha1', kind: 'WaypointPlugin', metadata: { name, namespace }, spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], ...spec } };
}

/** Allows every package from tarballs under the test's work directory. */
const openPolicy: PluginPolicy = { packages: ['*'], sources: [`file://${work}/`] };

function setup(opts: { policy?: PluginPolicy | null; allowedNamespaces?: string[] } = {}) {
  const env = createTestEnv();
  const root = mkdtempSync(join(work, 'root-'));
  const state = { policy: opts.policy === null ? undefined : (opts.policy ?? openPolicy) };
  const loader = new PackageLoader({ root });
  let bindings: PluginBinding[] = [];
  const manager = new WaypointPluginManager({
    loader,
    container: env.container,
    waypoint: env.waypoint,
    logger: env.logger,
    onBindings: (b) => (bindings = b),
    onStatus: (ref, c) => env.status.report(ref, c),
    policy: () => state.policy,
    allowedNamespaces: opts.allowedNamespaces,
  });
  const run = (req = {}) => runChain(bindings, req, { env });
  const active = (name: string, ns = 'default') => env.status.get('WaypointPlugin', ns, name, 'Active');
  return { env, root, loader, manager, run, bindings: () => bindings, state, active };
}

test('a WaypointPlugin package is installed, imported (sharing the host SDK: @inject works) and runs with its pluginConfig', async (t) => {
  const s = setup();
  const pkg = pack('@acme/header', '1.0.0', headerPlugin('v1'));
  await s.manager.sync([resource('hdr', { package: { name: '@acme/header', version: '1.0.0', tarball: pkg.tarball, integrity: pkg.integrity }, pluginConfig: { value: 'cfg' } })]);
  const r = await s.run();
  t.is(r.requestHeaders['x-plugin'], 'v1:cfg');
  t.true(s.env.logger.lines.some((l) => l.includes('hello from v1')));
  t.is(s.env.status.get('WaypointPlugin', 'default', 'hdr', 'Active')?.status, 'True');
  t.is(s.env.status.get('WaypointPlugin', 'default', 'hdr', 'Active')?.reason, 'Loaded');
});

test('a new version swaps in once loaded; the old version directory is removed; deleting the resource removes it', async (t) => {
  const s = setup();
  const v1 = pack('@acme/header', '1.0.0', headerPlugin('v1'));
  const v2 = pack('@acme/header', '2.0.0', headerPlugin('v2'));
  await s.manager.sync([resource('hdr', { package: { name: '@acme/header', version: '1.0.0', tarball: v1.tarball, integrity: v1.integrity } })]);
  t.is((await s.run()).requestHeaders['x-plugin'], 'v1:');
  const swapping = s.manager.sync([resource('hdr', { package: { name: '@acme/header', version: '2.0.0', tarball: v2.tarball, integrity: v2.integrity } })]);
  // while v2 installs, v1 keeps serving
  t.is((await s.run()).requestHeaders['x-plugin'], 'v1:');
  await swapping;
  t.is((await s.run()).requestHeaders['x-plugin'], 'v2:');
  const dirs = await s.loader.installed();
  t.is(dirs.length, 1);
  t.true(dirs[0]!.startsWith('_acme_header@2.0.0'));
  await s.manager.sync([]);
  t.is(s.bindings().length, 0);
  t.deepEqual(await s.loader.installed(), []);
});

test('integrity mismatch: status Failed; FAIL_CLOSE fails requests with 503, FAIL_OPEN lets them through', async (t) => {
  const s = setup();
  const pkg = pack('@acme/header', '1.0.0', headerPlugin('v1'));
  const bad = 'sha512-' + Buffer.alloc(64).toString('base64');
  await s.manager.sync([resource('hdr', { package: { name: '@acme/header', version: '1.0.0', tarball: pkg.tarball, integrity: bad } })]);
  const c = s.env.status.get('WaypointPlugin', 'default', 'hdr', 'Active');
  t.is(c?.status, 'False');
  t.is(c?.reason, 'IntegrityMismatch');
  const r = await s.run();
  t.is(r.status, 503);
  t.is(r.body, 'plugin default/hdr unavailable');
  await s.manager.sync([resource('hdr2', { failStrategy: 'FAIL_OPEN', package: { name: '@acme/header', version: '1.0.0', tarball: pkg.tarball, integrity: bad } })]);
  t.is((await s.run()).status, 200);
});

test('a plugin that throws or hangs follows failStrategy, and is reported Degraded', async (t) => {
  const s = setup();
  const thrower = pack('@acme/boom', '1.0.0', `export default class Boom { name = 'boom'; onRequest() { throw new Error('kaput'); } }`);
  const hanger = pack('@acme/hang', '1.0.0', `export default class Hang { name = 'hang'; onRequest() { return new Promise(() => {}); } }`);
  await s.manager.sync([resource('boom', { failStrategy: 'FAIL_OPEN', package: { name: '@acme/boom', version: '1.0.0', tarball: thrower.tarball, integrity: thrower.integrity } })]);
  t.is((await s.run()).status, 200);
  t.regex(s.env.status.get('WaypointPlugin', 'default', 'boom', 'Active')?.message ?? '', /onRequest failed: kaput/);
  await s.manager.sync([resource('boom', { failStrategy: 'FAIL_CLOSE', package: { name: '@acme/boom', version: '1.0.0', tarball: thrower.tarball, integrity: thrower.integrity } })]);
  t.is((await s.run()).status, 503);
  await s.manager.sync([resource('hang', { timeout: '50ms', package: { name: '@acme/hang', version: '1.0.0', tarball: hanger.tarball, integrity: hanger.integrity } })]);
  const r = await s.run();
  t.is(r.status, 503);
  t.regex(s.env.status.get('WaypointPlugin', 'default', 'hang', 'Active')?.message ?? '', /timed out after 50ms/);
});

test('phase and priority from the resource order the chain; unattached resources are ignored; a missing wasm module is reported', async (t) => {
  const s = setup();
  const a = pack('@acme/a', '1.0.0', `export default class A { name = 'a'; onRequest(ctx) { ctx.addRequestHeader('x-order', 'a'); } }`);
  const b = pack('@acme/b', '1.0.0', `export default class B { name = 'b'; onRequest(ctx) { ctx.addRequestHeader('x-order', 'b'); } }`);
  await s.manager.sync([
    resource('a', { phase: 'STATS', priority: 10, package: { name: '@acme/a', version: '1.0.0', tarball: a.tarball, integrity: a.integrity } }),
    resource('b', { phase: 'AUTHN', package: { name: '@acme/b', version: '1.0.0', tarball: b.tarball, integrity: b.integrity } }),
    { ...resource('other', { package: { name: '@acme/b', version: '1.0.0', tarball: b.tarball, integrity: b.integrity } }), spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'elsewhere' }], package: { name: '@acme/b', version: '1.0.0', tarball: b.tarball, integrity: b.integrity } } },
    resource('w', { failStrategy: 'FAIL_OPEN', wasm: { path: `${work}/nonexistent/x.wasm`, sha256: 'a'.repeat(64) } }),
  ]);
  t.deepEqual((await s.run()).requestHeaders['x-order'], ['b', 'a']);
  t.is(s.env.status.get('WaypointPlugin', 'default', 'w', 'Active')?.reason, 'FetchFailed');
  t.false(existsSync(join(s.root, 'nothing')));
});

// ---- the trust model (SECURITY.md, Plugins) ----------------------------------------------------------------

test('a package without integrity is refused before anything is fetched (IntegrityRequired); FAIL_CLOSE fails its requests', async (t) => {
  const s = setup();
  const pkg = pack('@acme/header', '1.0.0', headerPlugin('v1'));
  await s.manager.sync([resource('hdr', { package: { name: '@acme/header', version: '1.0.0', tarball: pkg.tarball } })]);
  t.is(s.active('hdr')?.status, 'False');
  t.is(s.active('hdr')?.reason, 'IntegrityRequired');
  t.regex(s.active('hdr')?.message ?? '', /spec\.package\.integrity/);
  t.deepEqual(await s.loader.installed(), []);
  const r = await s.run();
  t.is(r.status, 503);
  t.is(r.localReply?.flag, 'PF');
  // the loader refuses it too, for any other caller
  await t.throwsAsync(s.loader.install({ name: '@acme/header', version: '1.0.0', tarball: pkg.tarball }), { message: /has no integrity/ });
});

test('the allow-list: no policy allows nothing; a package or source it does not list is NotAllowed; a listed scope loads', async (t) => {
  const pkg = pack('@acme/header', '1.0.0', headerPlugin('v1'));
  const spec = { package: { name: '@acme/header', version: '1.0.0', tarball: pkg.tarball, integrity: pkg.integrity }, failStrategy: 'FAIL_OPEN' as const };
  const none = setup({ policy: null });
  await none.manager.sync([resource('hdr', spec)]);
  t.is(none.active('hdr')?.reason, 'NotAllowed');
  t.regex(none.active('hdr')?.message ?? '', /ConfigMap istio-system\/ambit-plugin-policy/);
  t.deepEqual(await none.loader.installed(), []);

  const otherPackage = setup({ policy: { packages: ['@other/*', 'acme-header'], sources: [`file://${work}/`] } });
  await otherPackage.manager.sync([resource('hdr', spec)]);
  t.is(otherPackage.active('hdr')?.reason, 'NotAllowed');
  t.regex(otherPackage.active('hdr')?.message ?? '', /package @acme\/header is not in the allow-list/);

  const otherSource = setup({ policy: { packages: ['@acme/*'], sources: ['https://registry.npmjs.org/', `file://${work}/elsewhere/`] } });
  await otherSource.manager.sync([resource('hdr', spec)]);
  t.is(otherSource.active('hdr')?.reason, 'NotAllowed');
  t.regex(otherSource.active('hdr')?.message ?? '', /source file:\/\/.* is not in the allow-list/);

  const ok = setup({ policy: { packages: ['@acme/*'], sources: [`file://${work}/`] } });
  await ok.manager.sync([resource('hdr', spec)]);
  t.is(ok.active('hdr')?.reason, 'Loaded');
  t.is((await ok.run()).requestHeaders['x-plugin'], 'v1:');
  // the administrator withdraws the package: it stops serving at once
  ok.state.policy = { packages: [], sources: [`file://${work}/`] };
  await ok.manager.sync([resource('hdr', spec)]);
  t.is(ok.active('hdr')?.reason, 'NotAllowed');
  t.is((await ok.run()).requestHeaders['x-plugin'], undefined);
  await ok.manager.close();
});

test('dependencies must be pinned: none locked is UnpinnedDependencies, a lock entry without integrity too; bundled ones load', async (t) => {
  const s = setup();
  const source = `import pad from 'left-pad-ish'; export default class P { name = 'p'; onRequest(ctx) { ctx.setRequestHeader('x-dep', pad('x')); } }`;
  const unlocked = pack('@acme/deps', '1.0.0', source, { dependencies: { 'left-pad-ish': '^1.0.0' } });
  await s.manager.sync([resource('deps', { package: { name: '@acme/deps', version: '1.0.0', tarball: unlocked.tarball, integrity: unlocked.integrity } })]);
  t.is(s.active('deps')?.reason, 'UnpinnedDependencies');
  t.regex(s.active('deps')?.message ?? '', /depends on left-pad-ish without pinning them/);

  const shrinkwrap = { name: '@acme/deps', version: '1.1.0', lockfileVersion: 3, packages: { '': { name: '@acme/deps', version: '1.1.0' }, 'node_modules/left-pad-ish': { version: '1.0.0', resolved: 'https://registry.npmjs.org/left-pad-ish/-/left-pad-ish-1.0.0.tgz' } } };
  const loose = packFiles('@acme/deps', '1.1.0', { 'index.js': source, 'npm-shrinkwrap.json': JSON.stringify(shrinkwrap) }, { dependencies: { 'left-pad-ish': '^1.0.0' } });
  await s.manager.sync([resource('deps', { package: { name: '@acme/deps', version: '1.1.0', tarball: loose.tarball, integrity: loose.integrity } })]);
  t.is(s.active('deps')?.reason, 'UnpinnedDependencies');
  t.regex(s.active('deps')?.message ?? '', /entry node_modules\/left-pad-ish lacks integrity/);

  const bundled = packFiles(
    '@acme/deps',
    '1.2.0',
    {
      'index.js': source,
      'node_modules/left-pad-ish/package.json': JSON.stringify({ name: 'left-pad-ish', version: '1.0.0', type: 'module', main: 'index.js' }),
      'node_modules/left-pad-ish/index.js': `export default (s) => '[' + s + ']';`,
    },
    { dependencies: { 'left-pad-ish': '^1.0.0' }, bundleDependencies: ['left-pad-ish'] },
  );
  await s.manager.sync([resource('deps', { package: { name: '@acme/deps', version: '1.2.0', tarball: bundled.tarball, integrity: bundled.integrity } })]);
  t.is(s.active('deps')?.reason, 'Loaded', s.active('deps')?.message);
  t.is((await s.run()).requestHeaders['x-dep'], '[x]');
  await s.manager.close();
});

test("a plugin from another namespace does not run on this namespace's waypoint unless the waypoint's owner accepts that namespace", async (t) => {
  const pkg = pack('@acme/header', '1.0.0', headerPlugin('tenant'));
  const foreign = resource('hdr', { targetRefs: [{ kind: 'Service', group: '', name: 'reviews' }], failStrategy: 'FAIL_OPEN', package: { name: '@acme/header', version: '1.0.0', tarball: pkg.tarball, integrity: pkg.integrity } }, 'tenant-a');
  const closed = setup();
  await closed.manager.sync([foreign]);
  const c = closed.active('hdr', 'tenant-a');
  t.is(c?.status, 'False');
  t.is(c?.reason, 'NotAllowed');
  t.regex(c?.message ?? '', /plugins\.ambit\.dev\/allowed-namespaces/);
  t.deepEqual(await closed.loader.installed(), []);

  const open = setup({ allowedNamespaces: ['tenant-a'] });
  await open.manager.sync([foreign]);
  t.is(open.active('hdr', 'tenant-a')?.reason, 'Loaded');
  await open.manager.close();
});

test('a sandboxed plugin cannot read the waypoint token or other files, sees an empty environment, and cannot ask for the mesh state', async (t) => {
  const s = setup();
  const secret = join(work, 'istio-token');
  writeFileSync(secret, 'SECRET-TOKEN', { mode: 0o600 });
  process.env.AMBIT_TEST_SECRET = 'SECRET-ENV';
  const snoop = pack(
    '@acme/snoop',
    '1.0.0',
    `import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
const code = (f) => { try { f(); return 'allowed'; } catch (e) { return e.code; } };
export default class Snoop {
  name = 'snoop';
  onRequest(ctx) {
    let file;
    try { file = readFileSync(${JSON.stringify(secret)}, 'utf8'); } catch (e) { file = e.code; }
    let proc;
    try { proc = readFileSync('/proc/' + process.ppid + '/environ', 'utf8').length > 0 ? 'read' : 'empty'; } catch (e) { proc = e.code; }
    ctx.setRequestHeader('x-file', file);
    ctx.setRequestHeader('x-proc', proc);
    ctx.setRequestHeader('x-env', JSON.stringify(Object.keys(process.env)));
    ctx.setRequestHeader('x-same-process', String(process.pid === Number(ctx.request.headers['x-waypoint-pid'])));
    ctx.setRequestHeader('x-write', code(() => writeFileSync(${JSON.stringify(join(work, 'planted'))}, 'x')));
    ctx.setRequestHeader('x-exec', code(() => execFileSync('id')));
    ctx.setRequestHeader('x-worker', code(() => new Worker('1', { eval: true })));
  }
}`,
  );
  await s.manager.sync([resource('snoop', { package: { name: '@acme/snoop', version: '1.0.0', tarball: snoop.tarball, integrity: snoop.integrity } })]);
  const r = await s.run({ headers: { 'x-waypoint-pid': String(process.pid) } });
  t.is(r.status, 200);
  t.is(r.requestHeaders['x-file'], 'ERR_ACCESS_DENIED');
  t.is(r.requestHeaders['x-proc'], 'ERR_ACCESS_DENIED');
  t.is(r.requestHeaders['x-env'], '[]');
  t.is(r.requestHeaders['x-same-process'], 'false');
  t.is(r.requestHeaders['x-write'], 'ERR_ACCESS_DENIED');
  t.is(r.requestHeaders['x-exec'], 'ERR_ACCESS_DENIED');
  t.is(r.requestHeaders['x-worker'], 'ERR_ACCESS_DENIED');
  t.false(existsSync(join(work, 'planted')));

  const nosy = pack('@acme/nosy', '1.0.0', `import { inject, MESH_STATE } from '@ambit/plugin-sdk';
export default class Nosy { constructor(mesh) { this.mesh = mesh; this.name = 'nosy'; } onRequest() {} }
inject(MESH_STATE)(Nosy, undefined, 0);`);
  await s.manager.sync([resource('nosy', { failStrategy: 'FAIL_OPEN', package: { name: '@acme/nosy', version: '1.0.0', tarball: nosy.tarball, integrity: nosy.integrity } })]);
  t.is(s.active('nosy')?.reason, 'ImportFailed');
  t.regex(s.active('nosy')?.message ?? '', /only LOGGER, WAYPOINT, CLOCK and METRICS can be injected/);
  await s.manager.close();
});

test('a plugin stuck in while(true) fails only its own request (503 PF), is restarted, says why in its status, and the waypoint keeps serving', async (t) => {
  const s = setup();
  const spin = pack(
    '@acme/spin',
    '1.0.0',
    `export default class Spin { name = 'spin'; onRequest(ctx) { if (ctx.request.headers['x-spin']) { while (true) {} } ctx.setRequestHeader('x-spin-ok', '1'); } }`,
  );
  await s.manager.sync([resource('spin', { timeout: '300ms', package: { name: '@acme/spin', version: '1.0.0', tarball: spin.tarball, integrity: spin.integrity } })]);
  t.is(s.active('spin')?.reason, 'Loaded');
  const stuck = s.run({ headers: { 'x-spin': '1' } });
  // While the plugin's process spins, this process's event loop is free: other work (a request that no
  // plugin applies to) completes.
  const free = await runChain([], {}, { env: s.env });
  t.is(free.status, 200);
  const r = await stuck;
  t.is(r.status, 503);
  t.is(r.localReply?.flag, 'PF');
  t.is(r.body, 'plugin default/spin failed');
  // the status says why once the process was found blocked and restarted
  for (let i = 0; i < 100 && !/blocked the plugin's event loop/.test(s.active('spin')?.message ?? ''); i++) await new Promise((res) => setTimeout(res, 50));
  const c = s.active('spin');
  t.is(c?.status, 'True');
  t.is(c?.reason, 'Degraded');
  t.regex(c?.message ?? '', /onRequest blocked the plugin's event loop for more than 300ms: its process was killed: restarted \(1 restarts\)/);
  // the restarted process serves again (a request arriving while it starts may spend its budget waiting)
  let again = await s.run();
  for (let i = 0; i < 10 && again.status !== 200; i++) again = await s.run();
  t.is(again.status, 200, `${again.body}\n${s.env.logger.lines.join('\n')}`);
  t.is(again.requestHeaders['x-spin-ok'], '1');
  t.true(s.env.logger.lines.some((l) => l.includes('plugin process blocked, restarting')));
  await s.manager.close();
});

test('locked dependencies install with npm ci, which checks each one: a dependency whose bytes differ from the lock fails the install', async (t) => {
  const s = setup();
  const dep = packFiles('lockdep', '1.0.0', { 'index.js': `export default (s) => '<' + s + '>';` });
  const other = packFiles('lockdep', '1.0.0', { 'index.js': `export default () => 'evil';` });
  const depFile = join(work, `lockdep-${Math.random().toString(36).slice(2)}.tgz`);
  const lock = {
    name: '@acme/locked',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: '@acme/locked', version: '1.0.0', dependencies: { lockdep: `file:${depFile}` } }, 'node_modules/lockdep': { version: '1.0.0', resolved: `file:${depFile}`, integrity: dep.integrity } },
  };
  const source = `import wrap from 'lockdep'; export default class L { name = 'l'; onRequest(ctx) { ctx.setRequestHeader('x-locked', wrap('y')); } }`;
  const pkg = packFiles('@acme/locked', '1.0.0', { 'index.js': source, 'npm-shrinkwrap.json': JSON.stringify(lock) }, { dependencies: { lockdep: `file:${depFile}` } });
  const wpp = resource('locked', { failStrategy: 'FAIL_OPEN', package: { name: '@acme/locked', version: '1.0.0', tarball: pkg.tarball, integrity: pkg.integrity } });

  // the dependency's bytes are not the ones locked (npm's cache has never seen the locked ones: fresh tarballs)
  writeFileSync(depFile, readFileSync(other.tarball));
  await s.manager.sync([wpp]);
  t.is(s.active('locked')?.reason, 'InstallFailed');
  t.regex(s.active('locked')?.message ?? '', /^npm ci of lockdep failed/);
  t.is((await s.run()).requestHeaders['x-locked'], undefined);

  // the locked bytes: installed and running
  writeFileSync(depFile, readFileSync(dep.tarball));
  await s.manager.sync([wpp]);
  t.is(s.active('locked')?.reason, 'Loaded', s.active('locked')?.message);
  t.is((await s.run()).requestHeaders['x-locked'], '<y>');
  await s.manager.close();
});

test('a plugin whose process exits on every request is restarted with a growing delay, not once per request', async (t) => {
  const s = setup();
  const quitter = pack('@acme/quit', '1.0.0', `export default class Quit { name = 'quit'; onRequest() { process.exit(3); } }`);
  await s.manager.sync([resource('quit', { package: { name: '@acme/quit', version: '1.0.0', tarball: quitter.tarball, integrity: quitter.integrity } })]);
  t.is(s.active('quit')?.reason, 'Loaded');
  const first = await s.run();
  t.is(first.status, 503);
  for (let i = 0; i < 100 && !/exited \(code 3\)/.test(s.active('quit')?.message ?? ''); i++) await new Promise((res) => setTimeout(res, 20));
  t.regex(s.active('quit')?.message ?? '', /its process exited \(code 3\): restarted \(1 restarts\)/);
  // the first restart is immediate; the second death within a minute waits before the next start
  let second = await s.run();
  for (let i = 0; i < 20 && !/2 restarts/.test(s.active('quit')?.message ?? ''); i++) second = await s.run();
  t.is(second.status, 503);
  t.regex(s.active('quit')?.message ?? '', /exited \(code 3\): restarted in 1s \(2 restarts\)/);
  // meanwhile requests fail fast, without starting processes
  const burst = await Promise.all(Array.from({ length: 20 }, () => s.run()));
  t.true(burst.every((r) => r.status === 503));
  t.is(s.env.logger.lines.filter((l) => l.includes('plugin process exited, restarting')).length, 2);
  t.regex(s.active('quit')?.message ?? '', /process is restarting after a failure \(next start in 1s\)/);
  t.true(s.env.logger.lines.some((l) => l.includes('plugin failed') && l.includes('process is restarting after a failure')));
  await s.manager.close();
});
