import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { K8sObject, PluginBinding } from '@ambit/plugin-sdk';
import { createTestEnv, runChain } from '@ambit/plugin-sdk/testing';
import { PackageLoader, sri, WaypointPluginManager, type WaypointPluginSpec } from '../src/index.js';

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

function resource(name: string, spec: WaypointPluginSpec): K8sObject<WaypointPluginSpec> {
  return { apiVersion: 'extensions.ambit.dev/v1alpha1', kind: 'WaypointPlugin', metadata: { name, namespace: 'default' }, spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], ...spec } };
}

function setup() {
  const env = createTestEnv();
  const root = mkdtempSync(join(work, 'root-'));
  const loader = new PackageLoader({ root });
  let bindings: PluginBinding[] = [];
  const manager = new WaypointPluginManager({
    loader,
    container: env.container,
    waypoint: env.waypoint,
    logger: env.logger,
    onBindings: (b) => (bindings = b),
    onStatus: (ref, c) => env.status.report(ref, c),
  });
  const run = (req = {}) => runChain(bindings, req, { env });
  return { env, root, loader, manager, run, bindings: () => bindings };
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
  await s.manager.sync([resource('boom', { failStrategy: 'FAIL_OPEN', package: { name: '@acme/boom', version: '1.0.0', tarball: thrower.tarball } })]);
  t.is((await s.run()).status, 200);
  t.regex(s.env.status.get('WaypointPlugin', 'default', 'boom', 'Active')?.message ?? '', /onRequest failed: kaput/);
  await s.manager.sync([resource('boom', { failStrategy: 'FAIL_CLOSE', package: { name: '@acme/boom', version: '1.0.0', tarball: thrower.tarball } })]);
  t.is((await s.run()).status, 503);
  await s.manager.sync([resource('hang', { timeout: '50ms', package: { name: '@acme/hang', version: '1.0.0', tarball: hanger.tarball } })]);
  const r = await s.run();
  t.is(r.status, 503);
  t.regex(s.env.status.get('WaypointPlugin', 'default', 'hang', 'Active')?.message ?? '', /timed out after 50ms/);
});

test('phase and priority from the resource order the chain; unattached resources are ignored; a missing wasm module is reported', async (t) => {
  const s = setup();
  const a = pack('@acme/a', '1.0.0', `export default class A { name = 'a'; onRequest(ctx) { ctx.addRequestHeader('x-order', 'a'); } }`);
  const b = pack('@acme/b', '1.0.0', `export default class B { name = 'b'; onRequest(ctx) { ctx.addRequestHeader('x-order', 'b'); } }`);
  await s.manager.sync([
    resource('a', { phase: 'STATS', priority: 10, package: { name: '@acme/a', version: '1.0.0', tarball: a.tarball } }),
    resource('b', { phase: 'AUTHN', package: { name: '@acme/b', version: '1.0.0', tarball: b.tarball } }),
    { ...resource('other', { package: { name: '@acme/b', version: '1.0.0', tarball: b.tarball } }), spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'elsewhere' }], package: { name: '@acme/b', version: '1.0.0', tarball: b.tarball } } },
    resource('w', { failStrategy: 'FAIL_OPEN', wasm: { path: '/nonexistent/x.wasm' } }),
  ]);
  t.deepEqual((await s.run()).requestHeaders['x-order'], ['b', 'a']);
  t.is(s.env.status.get('WaypointPlugin', 'default', 'w', 'Active')?.reason, 'FetchFailed');
  t.false(existsSync(join(s.root, 'nothing')));
});
