// Runs one WaypointPlugin's package in a process of its own, as Envoy runs Wasm filters in a VM: the plugin
// shares no memory with the waypoint (no private keys, no mesh state, no other tenant's config), and Node's
// permission model lets it read only its own package directory and the shared SDK (not the service-account
// token, not the certificates, not /proc), write nothing, and start no process or worker; its environment is
// empty and its heap capped. Each hook is a message round trip carrying a copy of the request context.
//
// A hook that does not answer within its budget fails its request (the chain applies failStrategy); the process
// is then pinged, and if its event loop does not answer either (`while (true) {}`) it is killed and started
// again, and `onRestart` says why. Other plugins and the waypoint itself keep serving throughout.

import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backoff } from '@ambit/mesh-api/plumbing';
import type { Logger, Phase, Plugin, RequestContext, WaypointIdentity } from '@ambit/plugin-sdk';
import { PluginLoadError, type InstalledPackage } from '../loader.js';
import { PendingCalls } from './pending.js';
import { applyChanges, snapshot, type FromChild, type HookName, type ToChild } from './wire.js';

export interface SandboxOptions {
  installed: InstalledPackage;
  /** `ns/name` of the WaypointPlugin (logs, errors). */
  name: string;
  waypoint: WaypointIdentity;
  logger: Logger;
  /** Longest a hook may take (the binding's timeout). */
  budgetMs: number;
  /** Heap limit of the plugin's process (MiB, default 128). */
  maxHeapMb?: number;
  /** How long a stuck process has to answer a ping before it is killed (default 200 ms). */
  pingGraceMs?: number;
  /** Told when the process was killed and restarted, and why. */
  onRestart?(why: string): void;
}

export class PluginBlockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginBlockedError';
  }
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'child.js');

/** Where Node finds package `name` from `dir` (the path as resolution reads it, links not followed). */
function lookup(dir: string, name: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * What the plugin's process may read besides its own package: the code it runs on (this package's dist, the
 * SDK, tsyringe, reflect-metadata, tslib, and of @ambit/mesh-api only the log core the SDK's Logger is built on and
 * the model and store its MeshStateReader is built on),
 * each both as resolution names it (a workspace link) and as its real path. Package code only: no credentials live
 * there.
 */
function hostReadPaths(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const builtin = resolve(here, '..', '..', '..', '..'); // <pkg>/dist/src/filters/sandbox -> <pkg>
  const paths = new Set<string>([join(builtin, 'dist'), join(builtin, 'package.json')]);
  const add = (from: string, name: string): string | undefined => {
    const found = lookup(from, name);
    if (!found) return undefined;
    const real = realpathSync(found);
    paths.add(found);
    paths.add(real);
    return real;
  };
  const sdk = add(here, '@ambit/plugin-sdk');
  // The resolver realpaths the package's own path (a workspace link), so that path is granted whole; of its real
  // directory only what `@ambit/mesh-api/log`, `/metrics` and `/model` load.
  const meshApi = sdk ? lookup(sdk, '@ambit/mesh-api') : undefined;
  if (meshApi) {
    const real = realpathSync(meshApi);
    paths.add(meshApi).add(join(real, 'package.json'));
    for (const dir of ['log', 'metrics', 'model']) paths.add(join(real, 'dist', 'src', dir));
  }
  for (const from of [here, ...(sdk ? [sdk] : [])]) {
    for (const name of ['tsyringe', 'reflect-metadata']) {
      const real = add(from, name);
      if (name === 'tsyringe' && real) add(real, 'tslib');
    }
  }
  return [...paths];
}

let readPaths: string[] | undefined;

export class SandboxedPlugin implements Plugin {
  readonly name: string;
  readonly phase?: Phase;
  readonly priority?: number;
  onRequest?: (ctx: RequestContext) => Promise<void>;
  onResponse?: (ctx: RequestContext) => Promise<void>;
  onLog?: (ctx: RequestContext) => Promise<void>;

  #child?: ChildProcess;
  #starting?: Promise<ChildProcess>;
  #seq = 0;
  readonly #pending = new PendingCalls();
  readonly #pongs = new Map<number, () => void>();
  #closed = false;
  #lostAt = 0;
  #backoffMs = 0;
  readonly #backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  #notBefore = 0;
  /** How many times the process was lost (killed for blocking, or exited) and restarted. */
  restarts = 0;

  private constructor(
    private readonly opts: SandboxOptions,
    ready: Extract<FromChild, { t: 'ready' }>,
    child: ChildProcess,
  ) {
    this.name = ready.name ?? opts.name;
    if (ready.phase) this.phase = ready.phase as Phase;
    if (ready.priority !== undefined) this.priority = ready.priority;
    this.#adopt(child);
    for (const h of ready.hooks) this[h] = (ctx: RequestContext) => this.#call(h, ctx);
  }

  /** Start the plugin's process and import the package there; rejects with ImportFailed / NoPluginExport. */
  static async start(opts: SandboxOptions): Promise<SandboxedPlugin> {
    const { child, ready } = await spawn(opts);
    return new SandboxedPlugin(opts, ready, child);
  }

  /** The process id (tests, diagnostics). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const c = this.#child;
    this.#child = undefined;
    this.#pending.failAll(new Error(`plugin ${this.opts.name} was removed`));
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.ref(); // keep the loop alive until the exit is seen
      c.kill('SIGKILL');
      await exited;
    }
  }

  #adopt(child: ChildProcess): void {
    this.#child = child;
    child.on('message', (m: FromChild) => {
      if (m.t === 'result') {
        this.#pending.settle(m);
      } else if (m.t === 'log') {
        this.opts.logger[m.level]?.(m.msg, m.fields);
      } else if (m.t === 'pong') {
        this.#pongs.get(m.id)?.();
      }
    });
    child.once('exit', (code, signal) => {
      if (this.#child !== child) return;
      this.#lost(child, `its process exited (${signal ?? `code ${code}`})`, 'plugin process exited, restarting', {});
    });
  }

  /**
   * The process is gone (it exited, or was killed for blocking): fail what waits on it, say why, and start
   * another, at once the first time, then after a delay that doubles (1 s up to 30 s) while it keeps dying
   * within a minute, so a plugin that exits on every request cannot make the waypoint spawn a process per request.
   */
  #lost(child: ChildProcess, what: string, log: string, fields: Record<string, string | number>): void {
    this.#child = undefined;
    this.restarts++;
    const now = Date.now();
    if (now - this.#lostAt < 60_000) this.#backoffMs = this.#backoff.next();
    else {
      this.#backoff.reset(); // the first death after a quiet minute: restart at once
      this.#backoffMs = 0;
    }
    this.#lostAt = now;
    this.#notBefore = now + this.#backoffMs;
    const why = `${what}: restarted${this.#backoffMs ? ` in ${this.#backoffMs / 1000}s` : ''} (${this.restarts} restarts)`;
    this.opts.logger.error(log, { plugin: this.opts.name, ...fields, restarts: this.restarts, restartInMs: this.#backoffMs });
    this.#pending.failAll(new PluginBlockedError(`plugin ${this.opts.name} ${why}`));
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.opts.onRestart?.(why);
    if (this.#closed) return;
    const restart = setTimeout(() => void this.#ensure().catch((err: Error) => this.opts.logger.error('plugin restart failed', { plugin: this.opts.name, error: err.message })), this.#backoffMs);
    restart.unref();
  }


  async #ensure(): Promise<ChildProcess> {
    if (this.#child) return this.#child;
    if (this.#closed) throw new Error(`plugin ${this.opts.name} was removed`);
    const wait = this.#notBefore - Date.now();
    if (!this.#starting && wait > 0) throw new Error(`plugin ${this.opts.name} process is restarting after a failure (next start in ${Math.ceil(wait / 1000)}s)`);
    this.#starting ??= spawn(this.opts).then(
      ({ child }) => {
        this.#starting = undefined;
        this.#adopt(child);
        return child;
      },
      (err: Error) => {
        this.#starting = undefined;
        throw err;
      },
    );
    return this.#starting;
  }

  async #call(hook: HookName, ctx: RequestContext): Promise<void> {
    const child = await this.#ensure();
    const id = ++this.#seq;
    const changes = await held(child, () => {
      const reply = this.#pending.wait(id, this.opts.budgetMs, () => {
        this.#pending.fail(id, new PluginBlockedError(`plugin ${this.opts.name} ${hook} timed out after ${this.opts.budgetMs}ms`));
        void this.#checkAlive(child, hook);
      });
      child.send({ t: 'call', id, hook, ctx: snapshot(ctx) } satisfies ToChild, (err) => {
        if (err) this.#pending.fail(id, new Error(`plugin ${this.opts.name} process unreachable: ${err.message}`));
      });
      return reply;
    });
    applyChanges(ctx, changes);
  }

  /** A hook overran: a process whose event loop answers a ping is only slow; one that does not is blocked. */
  async #checkAlive(child: ChildProcess, hook: HookName): Promise<void> {
    if (this.#child !== child) return;
    const id = ++this.#seq;
    const answered = await new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), this.opts.pingGraceMs ?? 200);
      this.#pongs.set(id, () => {
        clearTimeout(t);
        r(true);
      });
      child.send({ t: 'ping', id } satisfies ToChild, (err) => {
        if (err) r(false);
      });
    });
    this.#pongs.delete(id);
    if (answered || this.#child !== child) return;
    this.#lost(child, `${hook} blocked the plugin's event loop for more than ${this.opts.budgetMs}ms: its process was killed`, 'plugin process blocked, restarting', { hook, budgetMs: this.opts.budgetMs });
  }
}

async function spawn(opts: SandboxOptions): Promise<{ child: ChildProcess; ready: Extract<FromChild, { t: 'ready' }> }> {
  readPaths ??= hostReadPaths();
  const own = realpathSync(opts.installed.dir);
  const execArgv = [
    '--permission',
    ...[...new Set([opts.installed.dir, own, CHILD, ...readPaths])].map((p) => `--allow-fs-read=${p}`),
    `--max-old-space-size=${opts.maxHeapMb ?? 128}`,
    '--disallow-code-generation-from-strings',
  ];
  const child = fork(CHILD, [], { execArgv, env: {}, serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  // An idle plugin process never keeps the waypoint alive (the channel is held only while an answer is awaited);
  // it exits when the waypoint's end of the channel closes.
  child.unref();
  (child.stdout as { unref?(): void } | null)?.unref?.();
  (child.stderr as { unref?(): void } | null)?.unref?.();
  const log = opts.logger;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => log.info('plugin stdout', { plugin: opts.name, text: d.trimEnd().slice(0, 2048) }));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => log.warn('plugin stderr', { plugin: opts.name, text: d.trimEnd().slice(0, 2048) }));
  const ready = await held(child, () => new Promise<Extract<FromChild, { t: 'ready' }>>((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null) => reject(new PluginLoadError('ImportFailed', `plugin process for ${opts.installed.ref.name}@${opts.installed.ref.version} exited while loading (${signal ?? `code ${code}`})`));
    child.once('exit', onExit);
    child.once('error', (err) => reject(new PluginLoadError('ImportFailed', `cannot start the plugin process: ${err.message}`)));
    const onMessage = (m: FromChild) => {
      if (m.t === 'log') return void log[m.level]?.(m.msg, m.fields);
      if (m.t !== 'ready' && m.t !== 'failed') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (m.t === 'ready') resolve(m);
      else {
        child.kill('SIGKILL');
        reject(new PluginLoadError(m.reason, m.message));
      }
    };
    child.on('message', onMessage);
    const ref = opts.installed.ref;
    child.send({ t: 'init', entry: opts.installed.entry, export: ref.export, name: ref.name, version: ref.version, plugin: opts.name, waypoint: opts.waypoint } satisfies ToChild);
  }));
  return { child, ready };
}

/** Answers awaited per process: its channel keeps the event loop alive only while one is. */
const awaiting = new WeakMap<ChildProcess, number>();

async function held<T>(child: ChildProcess, work: () => Promise<T>): Promise<T> {
  const channel = child.channel as { ref?(): void; unref?(): void } | undefined;
  const n = awaiting.get(child) ?? 0;
  awaiting.set(child, n + 1);
  if (n === 0) channel?.ref?.();
  try {
    return await work();
  } finally {
    const left = (awaiting.get(child) ?? 1) - 1;
    awaiting.set(child, left);
    if (left === 0) channel?.unref?.();
  }
}
