// What the waypoint reports to the controller about its WaypointPlugins: the publisher's rules, then a real waypoint
// whose config source leads back to a controller (a broken package, a plugin that throws on live traffic, removal).
import test from 'ava';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { K8sObject, ResourceRef, StatusCondition } from '@ambit/plugin-sdk';
import type { StatusReport } from '@ambit/mesh-api';
import { PluginStatusPublisher, StaticConfigSource, type WaypointSnapshot } from '../src/index.js';
import { echo, service, startWaypoint, workload } from './helpers.js';

const ref = (name: string, kind = 'WaypointPlugin'): ResourceRef => ({ kind, namespace: 'default', name });
const active = (status: StatusCondition['status'], reason: string, message: string, observedGeneration = 1): StatusCondition => ({ type: 'Active', status, reason, message, observedGeneration });
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('the publisher sends the whole report once per change, only for plugins the waypoint holds', async (t) => {
  const sent: StatusReport[] = [];
  const p = new PluginStatusPublisher({ send: (r) => void sent.push(r), messageRefreshMs: 3_600_000 });
  t.teardown(() => p.close());
  p.setPresent([{ namespace: 'default', name: 'a' }, { namespace: 'default', name: 'b' }]);
  p.report(ref('a'), active('True', 'Loaded', 'a@1.0.0 active'));
  p.report(ref('b'), active('False', 'IntegrityMismatch', 'integrity mismatch for b@1.0.0'));
  // Not reported: other kinds, other condition types.
  p.report(ref('p', 'AuthorizationPolicy'), { type: 'WaypointAccepted', status: 'True', reason: 'Accepted', message: 'x' });
  p.report(ref('a'), { type: 'Ready', status: 'True', reason: 'x', message: 'x' });
  await turns();
  t.is(sent.length, 1, 'a burst of changes is one report');
  t.deepEqual(sent[0], {
    conditions: [
      { kind: 'WaypointPlugin', namespace: 'default', name: 'a', observedGeneration: 1, type: 'Active', status: 'True', reason: 'Loaded', message: 'a@1.0.0 active' },
      { kind: 'WaypointPlugin', namespace: 'default', name: 'b', observedGeneration: 1, type: 'Active', status: 'False', reason: 'IntegrityMismatch', message: 'integrity mismatch for b@1.0.0' },
    ],
  });
  // The same again sends nothing.
  p.report(ref('a'), active('True', 'Loaded', 'a@1.0.0 active'));
  await turns();
  t.is(sent.length, 1);
  // A plugin the waypoint no longer holds leaves the report.
  p.setPresent([{ namespace: 'default', name: 'a' }]);
  await turns();
  t.deepEqual(sent.at(-1)!.conditions.map((c) => c.name), ['a']);
  // A report about a plugin it does not hold (a load that finished after its removal) is not sent.
  p.report(ref('b'), active('True', 'Loaded', 'b@1.0.0 active'));
  await turns();
  t.is(sent.length, 2);
});

test('a message-only change (a failure count) waits; a status, reason or generation change goes at once', async (t) => {
  const sent: StatusReport[] = [];
  const p = new PluginStatusPublisher({ send: (r) => void sent.push(r), messageRefreshMs: 3_600_000 });
  t.teardown(() => p.close());
  p.setPresent([{ name: 'a' }]);
  p.report(ref('a'), active('True', 'Degraded', 'onRequest failed: boom (1 failures)'));
  await turns();
  p.report(ref('a'), active('True', 'Degraded', 'onRequest failed: boom (2 failures)'));
  p.report(ref('a'), active('True', 'Degraded', 'onRequest failed: boom (3 failures)'));
  await turns();
  t.deepEqual(sent.map((r) => r.conditions[0]!.message), ['onRequest failed: boom (1 failures)']);
  // A new generation loads: sent at once, with its own message.
  p.report(ref('a'), active('True', 'Loaded', 'a@2.0.0 active', 2));
  await turns();
  t.deepEqual(sent.map((r) => `${r.conditions[0]!.reason} ${r.conditions[0]!.message}`), ['Degraded onRequest failed: boom (1 failures)', 'Loaded a@2.0.0 active']);
});

test('a message-only change is sent within messageRefreshMs; long messages are cut', async (t) => {
  const sent: StatusReport[] = [];
  const p = new PluginStatusPublisher({ send: (r) => void sent.push(r), messageRefreshMs: 1 });
  t.teardown(() => p.close());
  p.setPresent([{ name: 'a' }]);
  p.report(ref('a'), active('True', 'Degraded', 'onRequest failed: boom (1 failures)'));
  await turns();
  p.report(ref('a'), active('True', 'Degraded', `onRequest failed: ${'x'.repeat(5000)}`));
  const until = Date.now() + 5000;
  while (sent.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  t.is(sent.length, 2);
  t.is(sent[1]!.conditions[0]!.message.length, 1024);
});

// ---- a waypoint -------------------------------------------------------------------------------------------------

class ReportingSource extends StaticConfigSource {
  readonly reports: StatusReport[] = [];
  reportStatus(r: StatusReport): void {
    this.reports.push(r);
  }
  last(name: string) {
    return this.reports.at(-1)?.conditions.find((c) => c.name === name);
  }
}

const work = mkdtempSync(join(tmpdir(), 'ambit-wp-status-'));

/** A plugin package packed by npm (a local tarball, as users ship them). */
function npmPack(name: string, version: string, source: string): { tarball: string; integrity: string } {
  const dir = join(work, `${name}-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version, type: 'module', main: 'index.js', peerDependencies: { '@ambit/plugin-sdk': '*' } }));
  writeFileSync(join(dir, 'index.js'), source);
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: dir, encoding: 'utf8' })) as Array<{ filename: string; integrity: string }>;
  return { tarball: join(work, info!.filename), integrity: info!.integrity };
}

function wpp(name: string, spec: Record<string, unknown>, generation = 1): K8sObject {
  return { apiVersion: 'extensions.ambit.dev/v1alpha1', kind: 'WaypointPlugin', metadata: { name, namespace: 'default', generation }, spec: { targetRefs: [{ kind: 'Service', group: '', name: 'productpage' }], ...spec } };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a waypoint reports a broken package, a plugin that throws on traffic (fail closed), and forgets a removed one', async (t) => {
  const thrower = npmPack('status-thrower', '1.0.0', `export default class Thrower { constructor() { this.name = 'thrower'; } onRequest() { throw new Error('boom'); } }\n`);
  const good = npmPack('status-good', '1.0.0', `export default class Good { constructor() { this.name = 'good'; } onRequest(ctx) { ctx.setRequestHeader('x-good', '1'); } }\n`);
  const app = await echo('productpage');
  const mesh = { services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('pp', '127.0.0.1', 'pp', { 'default/productpage.default.svc.cluster.local': { 9080: app.port } })] };
  const broken = wpp('broken', { failStrategy: 'FAIL_OPEN', package: { name: 'status-good', version: '1.0.0', tarball: good.tarball, integrity: 'sha512-' + Buffer.alloc(64).toString('base64') } });
  const throws = wpp('thrower', { package: { name: 'status-thrower', version: '1.0.0', tarball: thrower.tarball, integrity: thrower.integrity } }, 4);
  const source = new ReportingSource({ mesh, resources: [broken, throws] } as WaypointSnapshot);
  const h = await startWaypoint(mesh, [], { source, pluginsDir: join(work, 'plugins'), pluginPolicy: { packages: ['status-*', 'status-good', 'status-thrower'], sources: [pathToFileURL(work).href + '/'] } });
  t.teardown(async () => {
    await h.close();
    await app.close();
  });
  await until(() => !!source.last('broken') && !!source.last('thrower'), 'both plugins reported');
  t.like(source.last('broken'), { status: 'False', reason: 'IntegrityMismatch', observedGeneration: 1 });
  t.regex(source.last('broken')!.message, /^integrity mismatch for status-good@1\.0\.0: expected sha512-AAAA/);
  t.like(source.last('thrower'), { status: 'True', reason: 'Loaded', message: 'status-thrower@1.0.0 active', observedGeneration: 4 });

  // Live traffic: the hook throws, FAIL_CLOSE (the default) fails the request, and the report says why.
  const res = await request(h.url + '/', { headers: { host: 'productpage:9080' } });
  t.is(res.statusCode, 503);
  await res.body.dump();
  await until(() => source.last('thrower')?.reason === 'Degraded', 'Degraded');
  t.like(source.last('thrower'), { status: 'True', reason: 'Degraded', message: 'onRequest failed: boom (1 failures)' });

  // Removed from the waypoint's config: gone from its report.
  source.set({ mesh, resources: [throws] });
  await until(() => !source.last('broken'), 'broken dropped');
  t.deepEqual(source.reports.at(-1)!.conditions.map((c) => c.name), ['thrower']);
});
