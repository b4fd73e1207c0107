// The plugin contract. A plugin is a class registered with tsyringe (decorate it with `@injectable()` or
// `@singleton()`, ask for what it needs with `@inject(TOKEN)`), declaring `name`, `phase` and `priority` and
// implementing any of the three request hooks, and `onConfig` to prepare what it derives from config.

import type { RequestContext } from './context.js';
import type { Phase } from './phase.js';

export type HookResult = void | Promise<void>;

export interface Plugin {
  /** Unique within a waypoint; used in logs, metrics, errors. */
  readonly name: string;
  /** When it runs (WasmPlugin phases). Default UNSPECIFIED_PHASE. */
  readonly phase?: Phase;
  /** Higher first within a phase (WasmPlugin). Default 0. */
  readonly priority?: number;
  /** Before the request is forwarded. May deny/redirect, change request headers, set the route. */
  onRequest?(ctx: RequestContext): HookResult;
  /** Once the response status and headers are known, before they are sent (reverse chain order). */
  onResponse?(ctx: RequestContext): HookResult;
  /** After the response completed (or failed): for metrics and logs. Errors here are logged only. */
  onLog?(ctx: RequestContext): HookResult;
  /**
   * After each config the waypoint applies, off the request path: compile what the plugin derives from
   * RESOURCES or MESH (route table, policies) and report their status, so the next request does not pay for it and
   * status does not wait for traffic. Synchronous; an error is logged.
   */
  onConfig?(): void;
}

/** A plugin class as registered with the container. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PluginClass<T extends Plugin = Plugin> = new (...args: any[]) => T;

/** FAIL_CLOSE (default): a failing plugin fails the request (503). FAIL_OPEN: the plugin is skipped. */
export type FailStrategy = 'FAIL_CLOSE' | 'FAIL_OPEN';

/**
 * How a plugin instance takes part in a chain: its ordering, its config (from the resource that declared it),
 * which requests it applies to, how it fails.
 */
export interface PluginBinding {
  plugin: Plugin;
  /** Overrides `plugin.name/phase/priority` (a WaypointPlugin resource declares them). */
  name?: string;
  phase?: Phase;
  priority?: number;
  config?: unknown;
  failStrategy?: FailStrategy;
  /** A hook that does not settle within this time fails (per failStrategy). Unset: no timeout. */
  timeoutMs?: number;
  /** Apply only to requests for which this returns true (targetRefs). Unset: all requests. */
  appliesTo?(ctx: RequestContext): boolean;
  /** Told when a hook throws or times out (the filters loader reports plugin health through it). */
  onError?(hook: 'onRequest' | 'onResponse' | 'onLog', error: unknown): void;
}

/** Type guard for a module's export: does it look like a plugin class? */
export function isPluginClass(value: unknown): value is PluginClass {
  if (typeof value !== 'function' || !value.prototype) return false;
  const p = value.prototype as Record<string, unknown>;
  return typeof p.onRequest === 'function' || typeof p.onResponse === 'function' || typeof p.onLog === 'function';
}
