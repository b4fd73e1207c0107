// A proxy-wasm filter that loops forever must fail only its own request: the waypoint keeps serving meanwhile,
// and the module is re-instantiated for later requests. The module is hand-written here (a tiny binary encoder,
// no toolchain): proxy_on_request_headers spins forever on `x-spin`, and on `x-loop` spins until 15 s have passed
// by the host's clock (forever as far as a 1 s budget goes; bounded so that a waypoint whose event loop it blocks
// fails this test after 15 s rather than hanging it); otherwise it adds `x-wasm-ok: 1`.

import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { K8sObject, PluginBinding } from '@ambit/plugin-sdk';
import { createTestEnv, runChain } from '@ambit/plugin-sdk/testing';
import { PackageLoader, WaypointPluginManager, type WaypointPluginSpec } from '../src/index.js';

// ---- a tiny WebAssembly binary encoder
const I32 = 0x7f;
const I64 = 0x7e;
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
/** Signed LEB128 (i32.const / i64.const immediates). */
const sleb = (v: bigint): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const str = (s: string): number[] => [...u32(Buffer.byteLength(s)), ...Buffer.from(s)];
const vec = (items: number[][]): number[] => [...u32(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...u32(body.length), ...body];
const fn = (params: number[], results: number[]): number[] => [0x60, ...vec(params.map((p) => [p])), ...vec(results.map((r) => [r]))];

const op = {
  i32: (v: number) => [0x41, ...sleb(BigInt(v))],
  i64: (v: bigint) => [0x42, ...sleb(v)],
  call: (f: number) => [0x10, ...u32(f)],
  localGet: (i: number) => [0x20, ...u32(i)],
  localSet: (i: number) => [0x21, ...u32(i)],
  i64Load: (addr: number) => [...op.i32(addr), 0x29, 0x03, 0x00],
  i32Eqz: [0x45],
  i64Add: [0x7c],
  i64LtU: [0x54],
  drop: [0x1a],
  if: [0x04, 0x40],
  loop: [0x03, 0x40],
  br: (d: number) => [0x0c, ...u32(d)],
  brIf: (d: number) => [0x0d, ...u32(d)],
  end: [0x0b],
};

const MAP_REQUEST_HEADERS = 0;
const SPIN = [0, 'x-spin'] as const;
const LOOP = [8, 'x-loop'] as const;
const OK_KEY = [16, 'x-wasm-ok'] as const;
const OK_VALUE = [32, '1'] as const;
const RET = 64; // return_value_data / return_value_size
const NOW = 80; // proxy_get_current_time_nanoseconds writes here

function loopingModule(): Buffer {
  // types: 0 (i32 x5)->i32, 1 (i32)->i32, 2 (i32 i32)->(), 3 (i32 i32)->i32, 4 (i32 i32 i32)->i32
  const types = [fn([I32, I32, I32, I32, I32], [I32]), fn([I32], [I32]), fn([I32, I32], []), fn([I32, I32], [I32]), fn([I32, I32, I32], [I32])];
  const imports = [
    [...str('env'), ...str('proxy_get_header_map_value'), 0x00, ...u32(0)], // f0
    [...str('env'), ...str('proxy_get_current_time_nanoseconds'), 0x00, ...u32(1)], // f1
    [...str('env'), ...str('proxy_add_header_map_value'), 0x00, ...u32(0)], // f2
  ];
  const hasHeader = ([ptr, key]: readonly [number, string]) => [...op.i32(MAP_REQUEST_HEADERS), ...op.i32(ptr), ...op.i32(key.length), ...op.i32(RET), ...op.i32(RET + 4), ...op.call(0), ...op.i32Eqz];
  const onRequestHeaders = [
    ...hasHeader(SPIN),
    ...op.if,
    ...op.loop,
    ...op.br(0), // forever
    ...op.end,
    ...op.end,
    ...hasHeader(LOOP),
    ...op.if,
    ...op.i32(NOW),
    ...op.call(1),
    ...op.drop,
    ...op.i64Load(NOW),
    ...op.i64(15_000_000_000n),
    ...op.i64Add,
    ...op.localSet(3), // until = now + 15 s
    ...op.loop,
    ...op.i32(NOW),
    ...op.call(1),
    ...op.drop,
    ...op.i64Load(NOW),
    ...op.localGet(3),
    ...op.i64LtU,
    ...op.brIf(0),
    ...op.end,
    ...op.end,
    ...op.i32(MAP_REQUEST_HEADERS),
    ...op.i32(OK_KEY[0]),
    ...op.i32(OK_KEY[1].length),
    ...op.i32(OK_VALUE[0]),
    ...op.i32(OK_VALUE[1].length),
    ...op.call(2),
    ...op.drop,
    ...op.i32(0), // Continue
    ...op.end,
  ];
  const bodies: Array<[number[], number[]]> = [
    [[], [...op.i32(4096), ...op.end]], // f3 proxy_on_memory_allocate: one scratch area is enough here
    [[], op.end], // f4 proxy_on_context_create
    [[], [...op.i32(1), ...op.end]], // f5 proxy_on_vm_start
    [[], [...op.i32(1), ...op.end]], // f6 proxy_on_configure
    [[1, I64], onRequestHeaders], // f7 proxy_on_request_headers (local 3: i64)
  ];
  const code = bodies.map(([locals, body]) => {
    const decl = locals.length ? vec([locals]) : u32(0);
    const f = [...decl, ...body];
    return [...u32(f.length), ...f];
  });
  const exports = [
    [...str('memory'), 0x02, ...u32(0)],
    [...str('proxy_on_memory_allocate'), 0x00, ...u32(3)],
    [...str('proxy_on_context_create'), 0x00, ...u32(4)],
    [...str('proxy_on_vm_start'), 0x00, ...u32(5)],
    [...str('proxy_on_configure'), 0x00, ...u32(6)],
    [...str('proxy_on_request_headers'), 0x00, ...u32(7)],
  ];
  const data = [SPIN, LOOP, OK_KEY, OK_VALUE].map(([at, s]) => [0x00, ...op.i32(at), ...op.end, ...str(s)]);
  return Buffer.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec([1, 2, 3, 3, 4].map((t) => u32(t)))),
    ...section(5, vec([[0x00, ...u32(1)]])), // memory: 1 page
    ...section(7, vec(exports)),
    ...section(10, vec(code)),
    ...section(11, vec(data)),
  ]);
}

function setup() {
  const env = createTestEnv();
  const dir = mkdtempSync(join(tmpdir(), 'ambit-wasm-loop-'));
  const path = join(dir, 'loop.wasm');
  const bytes = loopingModule();
  writeFileSync(path, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let bindings: PluginBinding[] = [];
  const manager = new WaypointPluginManager({
    loader: new PackageLoader({ root: join(dir, 'packages') }),
    container: env.container,
    waypoint: env.waypoint,
    logger: env.logger,
    onBindings: (b) => (bindings = b),
    onStatus: (ref, c) => env.status.report(ref, c),
    policy: () => ({ packages: [], sources: [pathToFileURL(dir).href + '/'] }),
  });
  const obj: K8sObject<WaypointPluginSpec> = {
    apiVersion: 'extensions.ambit.dev/v1alpha1',
    kind: 'WaypointPlugin',
    metadata: { name: 'spin', namespace: 'default' },
    spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], timeout: '1s', wasm: { path, sha256 } },
  };
  const run = (req = {}) => runChain(bindings, req, { env });
  const active = () => env.status.get('WaypointPlugin', 'default', 'spin', 'Active');
  return { env, manager, obj, run, active };
}

test('the hand-written module is a valid proxy-wasm filter', async (t) => {
  const s = setup();
  await s.manager.sync([s.obj]);
  t.is(s.active()?.reason, 'Loaded', s.active()?.message);
  const r = await s.run();
  t.is(r.status, 200);
  t.is(r.requestHeaders['x-wasm-ok'], '1');
  await s.manager.close();
});

test('a wasm filter that loops forever fails only its own request (503 PF); the waypoint keeps serving; the module is re-instantiated', async (t) => {
  const s = setup();
  await s.manager.sync([s.obj]);
  t.is(s.active()?.reason, 'Loaded', s.active()?.message);

  for (const header of ['x-loop', 'x-spin']) {
    let stuckDone = false;
    const stuck = s.run({ headers: { [header]: '1' } }).finally(() => (stuckDone = true));
    // While the module loops, the waypoint's event loop is free: a timer fires, and a request no wasm filter
    // applies to, started then, completes before the looping one is answered.
    await new Promise((res) => setTimeout(res, 20));
    const free = await runChain([], {}, { env: s.env });
    t.is(free.status, 200);
    t.false(stuckDone, `${header}: the request on a normal route waited for the looping filter`);
    const r = await stuck;
    t.is(r.status, 503, `${header}: ${r.body}`);
    t.is(r.localReply?.flag, 'PF');
    t.is(r.body, 'plugin default/spin failed');
    t.false(r.forwarded);
    if (r.status !== 503) return; // the module blocked this process: the `x-spin` case would hang it
    // the plugin's status says why
    t.is(s.active()?.reason, 'Degraded');
    t.regex(s.active()?.message ?? '', /onRequest ran for more than 1000ms: its wasm VM was stopped and re-created/);

    // later requests through the same filter work: a new instance of the module serves them (one arriving
    // while it starts may spend its budget waiting on a loaded machine)
    let again = await s.run();
    for (let i = 0; i < 10 && again.status !== 200; i++) again = await s.run();
    t.is(again.status, 200, `${again.body}\n${s.env.logger.lines.join('\n')}`);
    t.is(again.requestHeaders['x-wasm-ok'], '1');
  }

  // a log line and a metric say which filter was stopped and why
  const stopped = s.env.logger.lines.filter((l) => l.includes('wasm filter stopped'));
  t.is(stopped.length, 2, s.env.logger.lines.join('\n'));
  t.true(stopped.every((l) => l.includes('default/spin') && l.includes('onRequest')), stopped.join('\n'));
  t.is(s.env.metrics.get('ambit_wasm_filter_stopped_total', { plugin: 'default/spin', reason: 'deadline' }), 2);
  await s.manager.close();
});
