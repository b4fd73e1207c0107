// Runs a proxy-wasm filter's VM (./wasm.ts) in a worker thread of its own, so a module that loops forever cannot
// stall the waypoint. Each hook is a message round trip carrying a copy of the request context (as for the npm
// plugin sandbox, ./sandbox/host.ts); a call that has not answered within the plugin's budget (its `timeout`)
// fails its request (the chain applies failStrategy: FAIL_CLOSE is 503 with response flag PF), and the worker is
// terminated (`worker.terminate()` stops Wasm code mid-loop) and a new one instantiates the module again for the
// requests that follow. Envoy has no per-call deadline for Wasm; this is the waypoint's CPU budget for a filter.
// Calls through one filter run one after another in its worker, so requests queued behind a looping call fail
// with it (their budget is spent waiting), as with a sandboxed npm plugin whose process is blocked; requests the
// filter does not apply to, and other plugins, are not delayed at all.

import { Worker } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backoff } from '@ambit/mesh-api/plumbing';
import type { Counter, Logger, LogFields, MetricsRegistry, Plugin, RequestContext } from '@ambit/plugin-sdk';
import { PluginBlockedError } from './sandbox/host.js';
import { PendingCalls, type CallResult } from './sandbox/pending.js';
import { applyChanges, snapshot, type ContextSnapshot, type HookName } from './sandbox/wire.js';
import './wasm-types.js';

export interface WasmWorkerInit {
  name: string;
  module: WebAssembly.Module;
  configuration?: string;
  vmConfiguration?: string;
}

/** One hook call; `req` numbers a request across its hooks (the VM keeps per-request state between them). */
export interface WasmCall {
  id: number;
  req: number;
  hook: HookName;
  ctx: ContextSnapshot;
}
export type WasmResult = CallResult;

/** Calls made in one turn of the event loop travel as one message, and their results come back as one. */
export type ToWasmWorker = { t: 'calls'; calls: WasmCall[] };

export type FromWasmWorker =
  | { t: 'ready' }
  | { t: 'failed'; message: string }
  | { t: 'results'; results: WasmResult[] }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: LogFields };

export interface IsolatedWasmOptions extends WasmWorkerInit {
  logger: Logger;
  /** Longest one call into the module may run (the binding's timeout). */
  budgetMs: number;
  /** Counts stopped VMs: `ambit_wasm_filter_stopped_total{plugin, reason}`. */
  metrics?: MetricsRegistry;
  /** Told when the VM was stopped and re-created, and why. */
  onRestart?(why: string): void;
}

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'wasm-worker.js');

interface Vm {
  worker: Worker;
  /** Calls not sent yet (flushed once per turn of the event loop). */
  outbox: WasmCall[];
  /** Requests whose onRequest ran on this VM (only they get onResponse/onLog there). */
  generation: number;
}

export class IsolatedWasmFilter implements Plugin {
  readonly name: string;
  readonly phase = 'UNSPECIFIED_PHASE' as const;
  readonly priority = 0;
  onResponse?: (ctx: RequestContext) => Promise<void>;
  onLog?: (ctx: RequestContext) => Promise<void>;

  #vm?: Vm;
  #starting?: Promise<Vm>;
  #generation = 0;
  #seq = 0;
  #nextRequest = 0;
  readonly #requests = new WeakMap<RequestContext, { req: number; generation: number }>();
  readonly #pending = new PendingCalls();
  #closed = false;
  #lostAt = 0;
  readonly #backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  #notBefore = 0;
  readonly #stopped?: Counter;
  /** How many times the VM was stopped (deadline) or lost (its worker exited) and re-created. */
  restarts = 0;

  private constructor(private readonly opts: IsolatedWasmOptions) {
    this.name = opts.name;
    this.#stopped = opts.metrics?.counter({
      name: 'ambit_wasm_filter_stopped_total',
      help: 'Wasm filter VMs stopped and re-created: reason deadline (a call ran past the plugin timeout) or exited (its worker died)',
      labelNames: ['plugin', 'reason'],
    });
    // Only hooks the module implements cost a round trip.
    const exported = new Set(WebAssembly.Module.exports(opts.module).map((e) => e.name));
    if (exported.has('proxy_on_response_headers')) this.onResponse = (ctx) => this.#call('onResponse', ctx);
    if (['proxy_on_done', 'proxy_on_log', 'proxy_on_delete'].some((n) => exported.has(n))) this.onLog = (ctx) => this.#call('onLog', ctx);
  }

  /** Instantiate the module in its worker; rejects if it fails to start (proxy_on_vm_start / proxy_on_configure). */
  static async create(opts: IsolatedWasmOptions): Promise<IsolatedWasmFilter> {
    const f = new IsolatedWasmFilter(opts);
    await f.#ensure();
    return f;
  }

  onRequest(ctx: RequestContext): Promise<void> {
    return this.#call('onRequest', ctx);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const vm = this.#vm;
    this.#vm = undefined;
    this.#pending.failAll(new Error(`wasm filter ${this.name} was removed`));
    await vm?.worker.terminate();
  }

  async #ensure(): Promise<Vm> {
    if (this.#vm) return this.#vm;
    if (this.#closed) throw new Error(`wasm filter ${this.name} was removed`);
    const wait = this.#notBefore - Date.now();
    if (!this.#starting && wait > 0) throw new Error(`wasm filter ${this.name} is restarting after a failure (next start in ${Math.ceil(wait / 1000)}s)`);
    this.#starting ??= this.#spawn().finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  async #spawn(): Promise<Vm> {
    const { name, module, configuration, vmConfiguration } = this.opts;
    const worker = new Worker(WORKER, { workerData: { name, module, configuration, vmConfiguration } satisfies WasmWorkerInit, env: {}, stdout: false, stderr: false });
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`wasm filter ${name}: its worker exited while starting (code ${code})`));
      const onError = (err: Error) => reject(new Error(`wasm filter ${name}: its worker failed while starting: ${err.message}`));
      const onMessage = (m: FromWasmWorker) => {
        if (m.t === 'log') return void this.opts.logger[m.level](m.msg, m.fields);
        if (m.t !== 'ready' && m.t !== 'failed') return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        worker.off('error', onError);
        if (m.t === 'ready') resolve();
        else {
          void worker.terminate();
          reject(new Error(m.message));
        }
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.once('error', onError);
    });
    const vm: Vm = { worker, outbox: [], generation: ++this.#generation };
    worker.on('message', (m: FromWasmWorker) => {
      if (m.t === 'log') this.opts.logger[m.level](m.msg, m.fields);
      else if (m.t === 'results') {
        for (const r of m.results) this.#pending.settle(r);
      }
    });
    worker.on('error', (err) => this.opts.logger.error('wasm filter worker error', { plugin: name, error: err.message }));
    worker.once('exit', (code) => {
      if (this.#vm === vm) this.#lost(vm, `its worker exited (code ${code})`, { reason: 'exited', code }, true);
    });
    // An idle VM never keeps the waypoint alive; a call in flight does (its deadline timer).
    worker.unref();
    if (this.#closed) {
      void worker.terminate();
      throw new Error(`wasm filter ${name} was removed`);
    }
    this.#vm = vm;
    return vm;
  }

  #call(hook: HookName, ctx: RequestContext): Promise<void> {
    const r = this.#requests.get(ctx);
    if (hook !== 'onRequest' && (!r || r.generation !== this.#vm?.generation)) return Promise.resolve(); // its VM is gone, and its state with it
    // With the VM up, the call (and its deadline) starts now, before the chain's own timeout for the hook.
    if (this.#vm) return this.#send(this.#vm, hook, ctx);
    return this.#ensure().then((vm) => this.#send(vm, hook, ctx));
  }

  async #send(vm: Vm, hook: HookName, ctx: RequestContext): Promise<void> {
    let r = this.#requests.get(ctx);
    if (!r || hook === 'onRequest') {
      r = { req: ++this.#nextRequest, generation: vm.generation };
      this.#requests.set(ctx, r);
    }
    const id = ++this.#seq;
    const call: WasmCall = { id, req: r.req, hook, ctx: snapshot(ctx) };
    const changes = this.#pending.wait(id, this.opts.budgetMs, () => {
      if (this.#vm !== vm) return;
      this.#lost(vm, `${hook} ran for more than ${this.opts.budgetMs}ms: its wasm VM was stopped and re-created`, { hook, reason: 'deadline', budgetMs: this.opts.budgetMs }, false);
    });
    if (vm.outbox.push(call) === 1) {
      setImmediate(() => {
        const calls = vm.outbox.splice(0);
        if (this.#vm === vm) vm.worker.postMessage({ t: 'calls', calls } satisfies ToWasmWorker);
      });
    }
    applyChanges(ctx, await changes);
  }

  /**
   * The VM is stopped (a call overran its budget) or lost (its worker exited): fail what waits on it, say why,
   * and start another. After a deadline at once (a looping module already spent a whole budget per request);
   * a worker that keeps exiting within a minute waits 1 s, then 2, 4... up to 30 s.
   */
  #lost(vm: Vm, what: string, fields: { reason: 'deadline' | 'exited'; hook?: HookName; budgetMs?: number; code?: number }, backoff: boolean): void {
    this.#vm = undefined;
    this.restarts++;
    const now = Date.now();
    let delay = 0;
    if (backoff) {
      if (now - this.#lostAt < 60_000) delay = this.#backoff.next();
      else this.#backoff.reset();
      this.#lostAt = now;
    }
    this.#notBefore = now + delay;
    const why = `${what}${delay ? ` in ${delay / 1000}s` : ''} (${this.restarts} restarts)`;
    this.opts.logger.error('wasm filter stopped', { plugin: this.name, ...fields, restarts: this.restarts, restartInMs: delay });
    this.#stopped?.inc({ plugin: this.name, reason: fields.reason });
    this.#pending.failAll(new PluginBlockedError(`wasm filter ${this.name} ${why}`));
    void vm.worker.terminate();
    this.opts.onRestart?.(why);
    if (this.#closed) return;
    const restart = setTimeout(() => void this.#ensure().catch((err: Error) => this.opts.logger.error('wasm filter restart failed', { plugin: this.name, error: err.message })), delay);
    restart.unref();
  }
}
