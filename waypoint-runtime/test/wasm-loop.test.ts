// A real waypoint with a WaypointPlugin whose proxy-wasm module loops forever on some requests: that request
// (a header) gets 503 PF, another service's request through the same waypoint is answered while the module loops, and
// the filter serves again afterwards. (plugins/builtin/test/wasm-loop.test.ts has the chain-level cases.) With
// the module in the waypoint's own thread, this loop blocks the whole process: the test then fails on ava's timeout.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { request } from 'undici';
import type { K8sObject } from '@ambit/plugin-sdk';
import { echo, service, startWaypoint, workload } from './helpers.js';

const u32 = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const str = (s: string) => [...u32(s.length), ...Buffer.from(s)];
const vec = (items: number[][]) => [...u32(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...u32(body.length), ...body];
const I32 = 0x7f;

/**
 * (module
 *   (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
 *   (memory (export "memory") 1)
 *   (data (i32.const 0) "x-spin")
 *   (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
 *   (func (export "proxy_on_context_create") (param i32 i32))
 *   (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
 *   (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
 *   ;; a request with an x-spin header (its value found: Ok = 0) loops forever; others continue
 *   (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
 *     (if (i32.eqz (call $get (i32.const 0) (i32.const 0) (i32.const 6) (i32.const 64) (i32.const 68)))
 *       (then (loop (br 0))))
 *     (i32.const 0)))
 */
function spinOnHeader(): Buffer {
  const types = [
    [0x60, ...vec([[I32]]), ...vec([[I32]])], // 0: (i32) -> i32
    [0x60, ...vec([[I32], [I32]]), ...vec([])], // 1: (i32 i32) -> ()
    [0x60, ...vec([[I32], [I32]]), ...vec([[I32]])], // 2: (i32 i32) -> i32
    [0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])], // 3: (i32 i32 i32) -> i32
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([[I32]])], // 4: (i32 x5) -> i32
  ];
  const c = (n: number): number[] => {
    // i32.const n (n >= 0): signed LEB128
    const out: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n >>>= 7;
      if (n === 0 && !(b & 0x40)) return [0x41, ...out, b];
      out.push(b | 0x80);
    }
  };
  const bodies = [
    [...c(1024), 0x0b],
    [0x0b],
    [...c(1), 0x0b],
    [...c(1), 0x0b],
    [...c(0), ...c(0), ...c(6), ...c(64), ...c(68), 0x10, 0x00, 0x45, 0x04, 0x40, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, ...c(0), 0x0b],
  ].map((b) => [...u32(b.length + 1), 0x00, ...b]);
  const names = ['proxy_on_memory_allocate', 'proxy_on_context_create', 'proxy_on_vm_start', 'proxy_on_configure', 'proxy_on_request_headers'];
  return Buffer.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec([[...str('env'), ...str('proxy_get_header_map_value'), 0x00, 0x04]])),
    ...section(3, vec([0, 1, 2, 2, 3].map((t) => [t]))),
    ...section(5, vec([[0x00, 0x01]])),
    ...section(7, vec([[...str('memory'), 0x02, 0x00], ...names.map((n, i) => [...str(n), 0x00, i + 1])])),
    ...section(10, vec(bodies)),
    ...section(11, vec([[0x00, ...c(0), 0x0b, ...str('x-spin')]])),
  ]);
}

test('a wasm filter looping forever fails its own request with 503 PF while the waypoint serves other requests, and serves again afterwards', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-wp-wasm-loop-'));
  const bytes = spinOnHeader();
  writeFileSync(join(dir, 'loop.wasm'), bytes);
  const plugin: K8sObject = {
    apiVersion: 'extensions.ambit.dev/v1alpha1',
    kind: 'WaypointPlugin',
    metadata: { name: 'loop', namespace: 'default' },
    spec: { targetRefs: [{ kind: 'Service', group: '', name: 'productpage' }], timeout: '1s', wasm: { path: join(dir, 'loop.wasm'), sha256: createHash('sha256').update(bytes).digest('hex') } },
  };
  const app = await echo('app');
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: 0 }), service('reviews', '10.96.0.31', { 9080: 0 })],
    workloads: [workload('app', '127.0.0.1', 'app', { 'default/productpage.default.svc.cluster.local': { 9080: app.port }, 'default/reviews.default.svc.cluster.local': { 9080: app.port } })],
  };
  const statuses: string[] = [];
  const h = await startWaypoint(mesh, [plugin], {
    pluginsDir: join(dir, 'plugins'),
    pluginPolicy: { packages: [], sources: [pathToFileURL(dir).href + '/'] },
    onStatus: (_ref, c) => void statuses.push(`${c.reason}: ${c.message}`),
  });
  t.teardown(async () => {
    await h.close();
    await app.close();
  });
  const get = async (host: string, spin = false) => {
    const res = await request(h.url + '/', { headers: { host, ...(spin ? { 'x-spin': '1' } : {}) } });
    return { status: res.statusCode, text: await res.body.text() };
  };
  for (let i = 0; i < 200 && !statuses.length; i++) await new Promise((r) => setTimeout(r, 25));
  t.regex(statuses.at(-1) ?? '', /^Loaded: /);
  const first = await get('productpage:9080');
  t.is(first.status, 200, first.text);

  let loopDone = false;
  const looping = get('productpage:9080', true).finally(() => (loopDone = true));
  await new Promise((r) => setTimeout(r, 50));
  const other = await get('reviews:9080');
  t.is(other.status, 200);
  t.false(loopDone, 'the request to reviews waited for the looping filter');
  const stuck = await looping;
  t.is(stuck.status, 503);
  t.is(stuck.text, 'plugin default/loop failed');

  let again = await get('productpage:9080');
  for (let i = 0; i < 10 && again.status !== 200; i++) again = await get('productpage:9080');
  t.is(again.status, 200, again.text);
  await new Promise((r) => setTimeout(r, 50));
  t.true(h.accessLog.some((l) => /" 503 PF /.test(l) || (l.includes(' 503 ') && l.includes('PF'))), h.accessLog.join('\n'));
  t.true(statuses.some((m) => /^Degraded: onRequest ran for more than 1000ms: its wasm VM was stopped and re-created/.test(m)), statuses.join('\n'));
  t.regex((await h.waypoint.metrics.render()), /ambit_wasm_filter_stopped_total\{plugin="default\/loop",reason="deadline"\} 1/);
});
