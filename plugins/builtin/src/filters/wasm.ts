// A proxy-wasm host (ABI 0.2.1, github.com/proxy-wasm/spec) running HTTP filters as waypoint plugins.
// One VM per plugin: `_initialize`/`_start`, then proxy_on_context_create(root, 0), proxy_on_vm_start,
// proxy_on_configure (the plugin configuration buffer). Per request: proxy_on_context_create(id, root),
// proxy_on_request_headers (onRequest), proxy_on_response_headers (onResponse), proxy_on_done, proxy_on_log,
// proxy_on_delete (onLog). Every import a module declares is provided; those not implemented return
// Unimplemented (12). Bodies, trailers, HTTP/gRPC callouts and shared queues are not supported. A trap fails the
// hook (the chain applies failStrategy) and the VM is re-created for the next request.
// WaypointPlugins run this host in a worker thread of their own (./wasm-isolate.ts), where a call that loops
// past the plugin's timeout is stopped and the VM re-created.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger, Plugin, RequestContext } from '@ambit/plugin-sdk';
import './wasm-types.js';

const OK = 0;
const NOT_FOUND = 1;
const BAD_ARGUMENT = 2;
const UNIMPLEMENTED = 12;

const MAP_REQUEST_HEADERS = 0;
const MAP_RESPONSE_HEADERS = 2;
const BUF_VM_CONFIGURATION = 6;
const BUF_PLUGIN_CONFIGURATION = 7;

type Exports = Record<string, WebAssembly.ExportValue> & { memory: WebAssembly.Memory };
type Fn = (...args: number[]) => number;

export interface WasmFilterOptions {
  name: string;
  module: WebAssembly.Module;
  /** The plugin configuration buffer (proxy_on_configure). */
  configuration?: string;
  vmConfiguration?: string;
  logger: Logger;
  /**
   * What identifies a request across its hooks (default: its context object). A host that rebuilds the
   * context for every hook (./wasm-isolate.ts) gives one object per request.
   */
  requestKey?(ctx: RequestContext): object;
}

export async function loadWasmModule(src: { path?: string; url?: string; sha256?: string }, fetcher: typeof fetch = fetch): Promise<WebAssembly.Module> {
  let bytes: Buffer;
  if (src.path) bytes = await readFile(src.path);
  else if (src.url?.startsWith('file:')) bytes = await readFile(new URL(src.url));
  else if (src.url) {
    const res = await fetcher(src.url);
    if (!res.ok) throw new Error(`HTTP ${res.status} fetching ${src.url}`);
    bytes = Buffer.from(await res.arrayBuffer());
  } else throw new Error('wasm: path or url is required');
  if (src.sha256) {
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== src.sha256) throw Object.assign(new Error(`sha256 mismatch: expected ${src.sha256}, got ${got}`), { reason: 'IntegrityMismatch' });
  }
  return WebAssembly.compile(bytes);
}

interface Current {
  ctx?: RequestContext;
}

export class WasmHttpFilter implements Plugin {
  readonly name: string;
  readonly phase = 'UNSPECIFIED_PHASE' as const;
  readonly priority = 0;
  #exports!: Exports;
  #rootId = 1;
  #nextId = 2;
  #broken = false;
  readonly #cur: Current = {};
  readonly #ids = new WeakMap<object, number>();
  #tick?: NodeJS.Timeout;

  private constructor(private readonly opts: WasmFilterOptions) {
    this.name = opts.name;
  }

  static async create(opts: WasmFilterOptions): Promise<WasmHttpFilter> {
    const f = new WasmHttpFilter(opts);
    await f.#boot();
    return f;
  }

  async #boot(): Promise<void> {
    const instance = await WebAssembly.instantiate(this.opts.module, this.#imports());
    this.#exports = instance.exports as Exports;
    const e = this.#exports;
    if (typeof e._initialize === 'function') (e._initialize as Fn)();
    else if (typeof e._start === 'function') (e._start as Fn)();
    this.#call('proxy_on_context_create', this.#rootId, 0);
    const vmOk = this.#call('proxy_on_vm_start', this.#rootId, Buffer.byteLength(this.opts.vmConfiguration ?? ''));
    if (vmOk === 0) throw new Error('proxy_on_vm_start returned false');
    const cfgOk = this.#call('proxy_on_configure', this.#rootId, Buffer.byteLength(this.opts.configuration ?? ''));
    if (cfgOk === 0) throw new Error('proxy_on_configure rejected the configuration');
    this.#broken = false;
  }

  close(): void {
    clearInterval(this.#tick);
  }

  #call(name: string, ...args: number[]): number {
    const f = this.#exports[name];
    if (typeof f !== 'function') return 1;
    try {
      const r = (f as Fn)(...args);
      return typeof r === 'bigint' ? Number(r) : (r ?? 0);
    } catch (err) {
      this.#broken = true;
      throw new Error(`wasm ${name} trapped: ${(err as Error).message}`);
    }
  }

  async #ready(): Promise<void> {
    if (this.#broken) {
      this.opts.logger.warn('re-creating wasm VM after a failure', { plugin: this.name });
      await this.#boot();
    }
  }

  #key(ctx: RequestContext): object {
    return this.opts.requestKey?.(ctx) ?? ctx;
  }

  async onRequest(ctx: RequestContext): Promise<void> {
    await this.#ready();
    const id = this.#nextId++;
    this.#ids.set(this.#key(ctx), id);
    this.#cur.ctx = ctx;
    try {
      this.#call('proxy_on_context_create', id, this.#rootId);
      const n = requestHeaderPairs(ctx).length;
      const eos = ctx.request.headers['content-length'] === undefined && ctx.request.headers['transfer-encoding'] === undefined ? 1 : 0;
      this.#call('proxy_on_request_headers', id, n, eos);
    } finally {
      this.#cur.ctx = undefined;
    }
  }

  onResponse(ctx: RequestContext): void {
    const id = this.#ids.get(this.#key(ctx));
    if (id === undefined || this.#broken) return;
    this.#cur.ctx = ctx;
    try {
      this.#call('proxy_on_response_headers', id, responseHeaderPairs(ctx).length, 0);
    } finally {
      this.#cur.ctx = undefined;
    }
  }

  onLog(ctx: RequestContext): void {
    const key = this.#key(ctx);
    const id = this.#ids.get(key);
    if (id === undefined || this.#broken) return;
    this.#cur.ctx = ctx;
    try {
      this.#call('proxy_on_done', id);
      this.#call('proxy_on_log', id);
      this.#call('proxy_on_delete', id);
    } finally {
      this.#cur.ctx = undefined;
      this.#ids.delete(key);
    }
  }

  // ---- memory helpers
  #mem(): Buffer {
    const m = this.#exports.memory;
    return Buffer.from(m.buffer);
  }
  #str(ptr: number, len: number): string {
    return this.#mem().toString('utf8', ptr, ptr + len);
  }
  #bytes(ptr: number, len: number): Buffer {
    return Buffer.from(this.#mem().subarray(ptr, ptr + len));
  }
  #u32(ptr: number, v: number): void {
    this.#mem().writeUInt32LE(v >>> 0, ptr);
  }
  #alloc(size: number): number {
    const e = this.#exports;
    const f = (e.proxy_on_memory_allocate ?? e.malloc) as Fn | undefined;
    if (!f) throw new Error('module exports neither proxy_on_memory_allocate nor malloc');
    return f(size);
  }
  #return(data: Buffer, ptrPtr: number, sizePtr: number): number {
    if (data.length === 0) {
      this.#u32(ptrPtr, 0);
      this.#u32(sizePtr, 0);
      return OK;
    }
    const p = this.#alloc(data.length);
    data.copy(this.#mem(), p);
    this.#u32(ptrPtr, p);
    this.#u32(sizePtr, data.length);
    return OK;
  }

  #pairs(map: number): Array<[string, string]> | undefined {
    const ctx = this.#cur.ctx;
    if (!ctx) return undefined;
    if (map === MAP_REQUEST_HEADERS) return requestHeaderPairs(ctx);
    if (map === MAP_RESPONSE_HEADERS) return ctx.response ? responseHeaderPairs(ctx) : undefined;
    return [];
  }

  #imports(): WebAssembly.Imports {
    const log = this.opts.logger;
    const levels = ['debug', 'debug', 'info', 'warn', 'error', 'error'] as const;
    const impl: Record<string, Record<string, (...a: number[]) => number | bigint | void>> = {
      env: {
        proxy_log: (level, ptr, len) => {
          log[levels[level] ?? 'info'](this.#str(ptr, len), { plugin: this.name });
          return OK;
        },
        proxy_get_log_level: (ptr) => (this.#u32(ptr, 2), OK),
        proxy_get_current_time_nanoseconds: (ptr) => (this.#mem().writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n, ptr), OK),
        proxy_set_tick_period_milliseconds: (ms) => {
          clearInterval(this.#tick);
          if (ms > 0) {
            this.#tick = setInterval(() => {
              try {
                this.#call('proxy_on_tick', this.#rootId);
              } catch (err) {
                log.error('wasm tick failed', { plugin: this.name, error: (err as Error).message });
              }
            }, ms);
            this.#tick.unref();
          }
          return OK;
        },
        proxy_set_effective_context: () => OK,
        proxy_continue_stream: () => OK,
        proxy_close_stream: () => OK,
        proxy_done: () => OK,
        proxy_get_buffer_bytes: (type, start, length, ptrPtr, sizePtr) => {
          const src = type === BUF_PLUGIN_CONFIGURATION ? this.opts.configuration : type === BUF_VM_CONFIGURATION ? this.opts.vmConfiguration : undefined;
          if (src === undefined) return NOT_FOUND;
          const b = Buffer.from(src);
          return this.#return(b.subarray(start, Math.min(b.length, start + length)), ptrPtr, sizePtr);
        },
        proxy_get_buffer_status: (type, lenPtr, flagsPtr) => {
          const src = type === BUF_PLUGIN_CONFIGURATION ? this.opts.configuration : type === BUF_VM_CONFIGURATION ? this.opts.vmConfiguration : undefined;
          if (src === undefined) return NOT_FOUND;
          this.#u32(lenPtr, Buffer.byteLength(src));
          this.#u32(flagsPtr, 1);
          return OK;
        },
        proxy_get_header_map_pairs: (map, ptrPtr, sizePtr) => {
          const pairs = this.#pairs(map);
          if (!pairs) return NOT_FOUND;
          return this.#return(serializePairs(pairs), ptrPtr, sizePtr);
        },
        proxy_get_header_map_size: (map, sizePtr) => {
          const pairs = this.#pairs(map);
          if (!pairs) return NOT_FOUND;
          this.#u32(sizePtr, serializePairs(pairs).length);
          return OK;
        },
        proxy_get_header_map_value: (map, kPtr, kLen, ptrPtr, sizePtr) => {
          const pairs = this.#pairs(map);
          if (!pairs) return NOT_FOUND;
          const key = this.#str(kPtr, kLen).toLowerCase();
          const values = pairs.filter(([k]) => k === key).map(([, v]) => v);
          if (values.length === 0) return NOT_FOUND;
          return this.#return(Buffer.from(values.join(',')), ptrPtr, sizePtr);
        },
        proxy_add_header_map_value: (map, kPtr, kLen, vPtr, vLen) => this.#mutate(map, 'add', this.#str(kPtr, kLen), this.#str(vPtr, vLen)),
        proxy_replace_header_map_value: (map, kPtr, kLen, vPtr, vLen) => this.#mutate(map, 'set', this.#str(kPtr, kLen), this.#str(vPtr, vLen)),
        proxy_remove_header_map_value: (map, kPtr, kLen) => this.#mutate(map, 'remove', this.#str(kPtr, kLen)),
        proxy_set_header_map_pairs: (map, ptr, size) => {
          const ctx = this.#cur.ctx;
          if (!ctx) return NOT_FOUND;
          const pairs = parsePairs(this.#bytes(ptr, size));
          const current = this.#pairs(map) ?? [];
          for (const [k] of current) if (!k.startsWith(':')) this.#mutate(map, 'remove', k);
          for (const [k, v] of pairs) if (!k.startsWith(':')) this.#mutate(map, 'add', k, v);
          return OK;
        },
        proxy_send_local_response: (status, _dPtr, _dLen, bPtr, bLen, hPtr, hLen) => {
          const ctx = this.#cur.ctx;
          if (!ctx) return BAD_ARGUMENT;
          const headers: Record<string, string> = {};
          if (hLen > 0) for (const [k, v] of parsePairs(this.#bytes(hPtr, hLen))) headers[k.toLowerCase()] = v;
          ctx.deny(status, this.#str(bPtr, bLen), headers, this.name);
          return OK;
        },
        proxy_get_property: (pPtr, pLen, ptrPtr, sizePtr) => {
          const ctx = this.#cur.ctx;
          const path = this.#str(pPtr, pLen).split('\0').filter(Boolean);
          const v = property(path, ctx, this.name, this.#rootId);
          if (v === undefined) return NOT_FOUND;
          return this.#return(v, ptrPtr, sizePtr);
        },
      },
      wasi_snapshot_preview1: {
        fd_write: (fd, iovs, iovsLen, nwrittenPtr) => {
          const mem = this.#mem();
          let out = '';
          let n = 0;
          for (let i = 0; i < iovsLen; i++) {
            const p = mem.readUInt32LE(iovs + i * 8);
            const l = mem.readUInt32LE(iovs + i * 8 + 4);
            out += mem.toString('utf8', p, p + l);
            n += l;
          }
          const text = out.replace(/\n$/, '');
          if (text) log[fd === 2 ? 'warn' : 'info'](text, { plugin: this.name });
          this.#u32(nwrittenPtr, n);
          return 0;
        },
        proc_exit: (code) => {
          throw new Error(`wasm proc_exit(${code})`);
        },
      },
    };
    const imports: WebAssembly.Imports = {};
    for (const imp of WebAssembly.Module.imports(this.opts.module)) {
      if (imp.kind !== 'function') continue;
      const f = impl[imp.module]?.[imp.name] ?? (imp.module === 'wasi_snapshot_preview1' ? () => 52 /* ENOSYS */ : () => UNIMPLEMENTED);
      (imports[imp.module] ??= {})[imp.name] = f as (...a: unknown[]) => unknown;
    }
    return imports;
  }

  #mutate(map: number, op: 'add' | 'set' | 'remove', key: string, value?: string): number {
    const ctx = this.#cur.ctx;
    if (!ctx) return NOT_FOUND;
    const k = key.toLowerCase();
    if (k.startsWith(':')) return OK; // pseudo-headers are not writable here
    if (map === MAP_REQUEST_HEADERS) {
      if (op === 'add') ctx.addRequestHeader(k, value!);
      else if (op === 'set') ctx.setRequestHeader(k, value!);
      else ctx.removeRequestHeader(k);
      return OK;
    }
    if (map === MAP_RESPONSE_HEADERS) {
      if (op === 'add') ctx.addResponseHeader(k, value!);
      else if (op === 'set') ctx.setResponseHeader(k, value!);
      else ctx.removeResponseHeader(k);
      return OK;
    }
    return BAD_ARGUMENT;
  }
}

function flatten(headers: Record<string, string | string[] | undefined>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else out.push([k, v]);
  }
  return out;
}

export function requestHeaderPairs(ctx: RequestContext): Array<[string, string]> {
  const path = ctx.request.rawQuery ? `${ctx.request.path}?${ctx.request.rawQuery}` : ctx.request.path;
  return [
    [':method', ctx.request.method],
    [':path', path],
    [':authority', ctx.request.authority],
    [':scheme', ctx.request.scheme],
    ...flatten(ctx.request.headers).filter(([k]) => k !== 'host'),
  ];
}

function responseHeaderPairs(ctx: RequestContext): Array<[string, string]> {
  return [[':status', String(ctx.response?.status ?? 0)], ...flatten(ctx.response?.headers ?? {})];
}

/** u32 count, (u32 keyLen, u32 valueLen) per pair, then NUL-terminated keys and values. */
export function serializePairs(pairs: Array<[string, string]>): Buffer {
  const enc = pairs.map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const);
  let size = 4 + enc.length * 8;
  for (const [k, v] of enc) size += k.length + v.length + 2;
  const b = Buffer.alloc(size);
  b.writeUInt32LE(enc.length, 0);
  let o = 4;
  for (const [k, v] of enc) {
    b.writeUInt32LE(k.length, o);
    b.writeUInt32LE(v.length, o + 4);
    o += 8;
  }
  for (const [k, v] of enc) {
    k.copy(b, o);
    o += k.length + 1;
    v.copy(b, o);
    o += v.length + 1;
  }
  return b;
}

export function parsePairs(b: Buffer): Array<[string, string]> {
  if (b.length < 4) return [];
  const n = b.readUInt32LE(0);
  const lens: Array<[number, number]> = [];
  let o = 4;
  for (let i = 0; i < n; i++) {
    lens.push([b.readUInt32LE(o), b.readUInt32LE(o + 4)]);
    o += 8;
  }
  const out: Array<[string, string]> = [];
  for (const [kl, vl] of lens) {
    const k = b.toString('utf8', o, o + kl);
    o += kl + 1;
    const v = b.toString('utf8', o, o + vl);
    o += vl + 1;
    out.push([k, v]);
  }
  return out;
}

function int64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

/** Envoy attributes (strings as bytes, integers as int64 little-endian). */
function property(path: string[], ctx: RequestContext | undefined, plugin: string, rootId: number): Buffer | undefined {
  const key = path.join('.');
  if (key === 'plugin_name') return Buffer.from(plugin);
  if (key === 'plugin_root_id') return Buffer.from(String(rootId));
  if (!ctx) return undefined;
  switch (key) {
    case 'request.path':
      return Buffer.from(ctx.request.rawQuery ? `${ctx.request.path}?${ctx.request.rawQuery}` : ctx.request.path);
    case 'request.url_path':
      return Buffer.from(ctx.request.path);
    case 'request.method':
      return Buffer.from(ctx.request.method);
    case 'request.host':
      return Buffer.from(ctx.request.authority);
    case 'request.scheme':
      return Buffer.from(ctx.request.scheme);
    case 'request.id':
      return Buffer.from(ctx.id);
    case 'request.protocol':
      return Buffer.from(ctx.request.protocol);
    case 'source.address':
      return Buffer.from(`${ctx.source.address}:${ctx.source.port}`);
    case 'source.port':
      return int64(ctx.source.port);
    case 'destination.address':
      return Buffer.from(ctx.destination.originalAuthority);
    case 'destination.port':
      return int64(ctx.destination.port);
    case 'connection.uri_san_peer_certificate':
    case 'source.principal':
      return ctx.source.principal ? Buffer.from(ctx.source.principal) : undefined;
    case 'connection.mtls':
      return Buffer.from([ctx.source.principal ? 1 : 0]);
    case 'response.code':
      return ctx.response ? int64(ctx.response.status) : undefined;
    default:
      if (path[0] === 'request' && path[1] === 'headers' && path[2]) return ctx.header(path[2]) !== undefined ? Buffer.from(ctx.header(path[2])!) : undefined;
      return undefined;
  }
}
