import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { K8sObject, PluginBinding } from '@ambit/plugin-sdk';
import { createTestEnv, runChain, runPlugin } from '@ambit/plugin-sdk/testing';
import { loadWasmModule, PackageLoader, parsePairs, serializePairs, WasmHttpFilter, WaypointPluginManager, type WaypointPluginSpec } from '../src/index.js';

// Built from samples/plugins/wasm/assembly/index.ts with AssemblyScript + @gcoredev/proxy-wasm-sdk-as (ABI 0.2.1).
const wasmPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'samples', 'plugins', 'wasm', 'build', 'tag.wasm');
const sha256 = createHash('sha256').update(readFileSync(wasmPath)).digest('hex');

test('header map serialization round-trips (u32 count, u32 lengths, NUL-terminated strings)', (t) => {
  const pairs: Array<[string, string]> = [[':path', '/a'], ['x-k', ''], ['ü', 'v']];
  const b = serializePairs(pairs);
  t.is(b.readUInt32LE(0), 3);
  t.is(b.readUInt32LE(4), 5);
  t.is(b.readUInt32LE(8), 2);
  t.deepEqual(parsePairs(b), pairs);
});

test('a proxy-wasm filter built with a real SDK adds request/response headers from its configuration', async (t) => {
  const env = createTestEnv();
  const filter = await WasmHttpFilter.create({ name: 'tag', module: await loadWasmModule({ path: wasmPath, sha256 }), configuration: 'hello-config', logger: env.logger });
  const r = await runPlugin(filter, { path: '/items?x=1' }, { env });
  t.is(r.status, 200);
  t.is(r.requestHeaders['x-wasm'], 'hello-config');
  t.is(r.responseHeaders['x-wasm-response'], '/items?x=1');
  // several requests through one VM keep their own per-request state
  const r2 = await runPlugin(filter, { path: '/second' }, { env });
  t.is(r2.responseHeaders['x-wasm-response'], '/second');
});

test('proxy_send_local_response from the filter denies the request', async (t) => {
  const env = createTestEnv();
  const filter = await WasmHttpFilter.create({ name: 'tag', module: await loadWasmModule({ path: wasmPath }), configuration: '', logger: env.logger });
  const r = await runPlugin(filter, { headers: { 'x-block': '1' } }, { env });
  t.is(r.status, 403);
  t.is(r.body, 'blocked by wasm');
  t.false(r.forwarded);
  t.true(env.logger.lines.some((l) => l.includes('blocking request')), env.logger.lines.join('\n'));
});

test('sha256 mismatch is refused', async (t) => {
  await t.throwsAsync(loadWasmModule({ path: wasmPath, sha256: '0'.repeat(64) }), { message: /sha256 mismatch/ });
});

test('a WaypointPlugin with spec.wasm runs the module in the chain with its pluginConfig', async (t) => {
  const env = createTestEnv();
  let bindings: PluginBinding[] = [];
  const manager = new WaypointPluginManager({ loader: new PackageLoader({ root: '/nonexistent' }), container: env.container, waypoint: env.waypoint, logger: env.logger, onBindings: (b) => (bindings = b), onStatus: (ref, c) => env.status.report(ref, c), policy: () => ({ packages: [], sources: [pathToFileURL(dirname(wasmPath)).href + '/'] }) });
  const obj: K8sObject<WaypointPluginSpec> = {
    apiVersion: 'extensions.ambit.dev/v1alpha1',
    kind: 'WaypointPlugin',
    metadata: { name: 'tag', namespace: 'default' },
    spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], phase: 'AUTHZ', wasm: { path: wasmPath, sha256 }, pluginConfig: 'from-resource' },
  };
  await manager.sync([obj]);
  t.is(env.status.get('WaypointPlugin', 'default', 'tag', 'Active')?.reason, 'Loaded');
  const r = await runChain(bindings, {}, { env });
  t.is(r.requestHeaders['x-wasm'], 'from-resource');
  t.is((await runChain(bindings, { headers: { 'x-block': 'y' } }, { env })).status, 403);
});

test('a WaypointPlugin with spec.wasm and no sha256, or from a source the allow-list lacks, is refused before the module is read', async (t) => {
  const env = createTestEnv();
  let bindings: PluginBinding[] = [];
  const manager = new WaypointPluginManager({ loader: new PackageLoader({ root: '/nonexistent' }), container: env.container, waypoint: env.waypoint, logger: env.logger, onBindings: (b) => (bindings = b), onStatus: (ref, c) => env.status.report(ref, c), policy: () => ({ packages: [], sources: ['file:///elsewhere/'] }) });
  const obj = (name: string, wasm: WaypointPluginSpec['wasm']): K8sObject<WaypointPluginSpec> => ({
    apiVersion: 'extensions.ambit.dev/v1alpha1',
    kind: 'WaypointPlugin',
    metadata: { name, namespace: 'default' },
    spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], wasm },
  });
  await manager.sync([obj('nohash', { path: wasmPath }), obj('elsewhere', { path: wasmPath, sha256 })]);
  const nohash = env.status.get('WaypointPlugin', 'default', 'nohash', 'Active');
  t.is(nohash?.status, 'False');
  t.is(nohash?.reason, 'IntegrityRequired');
  t.regex(nohash?.message ?? '', /spec\.wasm\.sha256/);
  const elsewhere = env.status.get('WaypointPlugin', 'default', 'elsewhere', 'Active');
  t.is(elsewhere?.reason, 'NotAllowed');
  t.regex(elsewhere?.message ?? '', /not in the allow-list/);
  // FAIL_CLOSE (the default): the requests those plugins apply to fail rather than skip them
  const r = await runChain(bindings, {}, { env });
  t.is(r.status, 503);
  t.is(r.localReply?.flag, 'PF');
});
