// The plugin chain: bindings sorted by phase then priority; hooks run in a fixed order:
//   onRequest   chain order, until a plugin replies locally (deny/redirect)
//   onResponse  reverse order, only plugins whose onRequest ran (as Envoy's encoder filters)
//   onLog       chain order, every applicable plugin, after the response completed; errors only logged
// A hook that throws or does not settle within its binding's `timeoutMs` follows the binding's failStrategy:
// FAIL_CLOSE (default) replies 503 `plugin <name> failed`; FAIL_OPEN logs and goes on.

import type { DependencyContainer } from 'tsyringe';
import type { RequestContext } from './context.js';
import type { Logger } from './logger.js';
import { comparePhasePriority, type Phase } from './phase.js';
import type { FailStrategy, Plugin, PluginBinding } from './plugin.js';
import { PLUGIN } from './tokens.js';

export interface ChainEntry {
  readonly plugin: Plugin;
  readonly name: string;
  readonly phase: Phase;
  readonly priority: number;
  readonly config: unknown;
  readonly failStrategy: FailStrategy;
  readonly timeoutMs?: number;
  readonly appliesTo?: (ctx: RequestContext) => boolean;
  readonly onError?: PluginBinding['onError'];
}

export type HookName = 'onRequest' | 'onResponse' | 'onLog';

export interface ChainOptions {
  logger?: Logger;
  /** Called when a hook throws or times out (the filters loader reports plugin health through it). */
  onError?(entry: ChainEntry, hook: HookName, error: unknown): void;
}

const RAN = Symbol('ambit.chain.ran');

export class PluginTimeoutError extends Error {
  constructor(name: string, hook: string, ms: number) {
    super(`plugin ${name} ${hook} timed out after ${ms}ms`);
    this.name = 'PluginTimeoutError';
  }
}

function withTimeout(p: Promise<void>, ms: number, name: string, hook: string): Promise<void> {
  let timer: NodeJS.Timeout;
  const t = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new PluginTimeoutError(name, hook, ms)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function toEntry(b: PluginBinding): ChainEntry {
  return {
    plugin: b.plugin,
    name: b.name ?? b.plugin.name,
    phase: b.phase ?? b.plugin.phase ?? 'UNSPECIFIED_PHASE',
    priority: b.priority ?? b.plugin.priority ?? 0,
    config: b.config,
    failStrategy: b.failStrategy ?? 'FAIL_CLOSE',
    timeoutMs: b.timeoutMs,
    appliesTo: b.appliesTo,
    onError: b.onError,
  };
}

export class PluginChain {
  readonly entries: readonly ChainEntry[];
  readonly #all: readonly ChainEntry[];
  readonly #filtered: boolean;
  readonly #opts: ChainOptions;

  constructor(bindings: Iterable<PluginBinding | Plugin>, opts: ChainOptions = {}) {
    const list = [...bindings].map((b) => toEntry('plugin' in b && typeof b.plugin === 'object' ? (b as PluginBinding) : { plugin: b as Plugin }));
    // Array.prototype.sort is stable: equal phase+priority keep declaration order.
    this.entries = list.sort(comparePhasePriority);
    this.#all = this.entries;
    this.#filtered = this.entries.some((e) => e.appliesTo);
    this.#opts = opts;
  }

  /**
   * Every plugin registered under {@link PLUGIN} in `container` (resolved from that container, so a child
   * container must hold the whole list: tsyringe's resolveAll does not merge parent and child registrations).
   */
  static fromContainer(container: DependencyContainer, extra: PluginBinding[] = [], opts: ChainOptions = {}): PluginChain {
    const plugins = container.isRegistered(PLUGIN, true) ? container.resolveAll(PLUGIN) : [];
    return new PluginChain([...plugins.map((plugin) => ({ plugin })), ...extra], opts);
  }

  /** Names in run order (for logs and /config_dump). */
  describe(): Array<{ name: string; phase: Phase; priority: number; failStrategy: FailStrategy }> {
    return this.entries.map(({ name, phase, priority, failStrategy }) => ({ name, phase, priority, failStrategy }));
  }

  #applicable(ctx: RequestContext): readonly ChainEntry[] {
    if (!this.#filtered) return this.#all;
    return this.#all.filter((e) => !e.appliesTo || e.appliesTo(ctx));
  }

  async onRequest(ctx: RequestContext): Promise<void> {
    const entries = this.#applicable(ctx);
    let ran = 0;
    ctx.state.set(RAN, { entries, ran: 0 });
    for (const e of entries) {
      if (ctx.localReply) break;
      ran++;
      if (!e.plugin.onRequest) continue;
      await this.#call(e, 'onRequest', ctx);
    }
    (ctx.state.get(RAN) as { ran: number }).ran = ran;
  }

  async onResponse(ctx: RequestContext): Promise<void> {
    const rec = ctx.state.get(RAN) as { entries: readonly ChainEntry[]; ran: number } | undefined;
    if (!rec) return;
    for (let i = rec.ran - 1; i >= 0; i--) {
      const e = rec.entries[i]!;
      if (e.plugin.onResponse) await this.#call(e, 'onResponse', ctx);
    }
  }

  async onLog(ctx: RequestContext): Promise<void> {
    const rec = ctx.state.get(RAN) as { entries: readonly ChainEntry[] } | undefined;
    const entries = rec?.entries ?? this.#applicable(ctx);
    for (const e of entries) {
      if (!e.plugin.onLog) continue;
      ctx.config = e.config;
      try {
        const r = e.plugin.onLog(ctx);
        if (r && typeof (r as Promise<void>).then === 'function') {
          await (e.timeoutMs ? withTimeout(r as Promise<void>, e.timeoutMs, e.name, 'onLog') : r);
        }
      } catch (err) {
        this.#report(e, 'onLog', err);
      }
    }
  }

  async #call(e: ChainEntry, hook: 'onRequest' | 'onResponse', ctx: RequestContext): Promise<void> {
    ctx.config = e.config;
    try {
      const r = e.plugin[hook]!(ctx);
      if (r && typeof (r as Promise<void>).then === 'function') {
        await (e.timeoutMs ? withTimeout(r as Promise<void>, e.timeoutMs, e.name, hook) : r);
      }
    } catch (err) {
      this.#report(e, hook, err);
      if (e.failStrategy === 'FAIL_CLOSE') {
        ctx.localReply = { status: 503, body: `plugin ${e.name} failed`, headers: { 'content-type': 'text/plain' }, by: e.name, flag: 'PF' };
      }
    }
  }

  #report(e: ChainEntry, hook: HookName, err: unknown): void {
    this.#opts.logger?.error('plugin failed', {
      plugin: e.name,
      hook,
      failStrategy: e.failStrategy,
      error: err instanceof Error ? err.message : String(err),
    });
    try {
      e.onError?.(hook, err);
      this.#opts.onError?.(e, hook, err);
    } catch {
      // a reporting callback must never break a request
    }
  }
}
