// WaypointPlugin (extensions.ambit.dev/v1alpha1) resources -> chain bindings. For each resource attached to
// this waypoint (targetRefs as Istio's WasmPlugin), the package is installed and imported by the loader, the
// class instantiated in the waypoint's container, and bound with the resource's phase, priority,
// failStrategy, timeout and pluginConfig. A new version replaces the old binding only once it has loaded, so
// no request fails during a swap; versions no longer referenced are removed. Status goes to `onStatus`:
// Active=True (Loaded) or Active=False with the reason (FetchFailed, IntegrityMismatch, ...).

import {
  isPhase,
  type DependencyContainer,
  type FailStrategy,
  type K8sObject,
  type Logger,
  type Phase,
  type Plugin,
  type PluginBinding,
  type ResourceRef,
  type StatusCondition,
  type WaypointIdentity,
} from '@ambit/plugin-sdk';
import { attachment, type TargetRef } from '../common/attach.js';
import { parseDuration } from '../common/strings.js';
import { PluginLoadError, type PackageLoader, type PackageRef } from './loader.js';
import { loadWasmModule, WasmHttpFilter } from './wasm.js';

export const WAYPOINT_PLUGIN_GROUP = 'extensions.ambit.dev';
export const WAYPOINT_PLUGIN_KIND = 'WaypointPlugin';

export interface WaypointPluginSpec {
  targetRef?: TargetRef;
  targetRefs?: TargetRef[];
  phase?: Phase;
  priority?: number;
  failStrategy?: FailStrategy;
  /** Longest a hook may take (duration, default 5s); longer follows failStrategy. */
  timeout?: string;
  pluginConfig?: unknown;
  package?: PackageRef;
  /** A proxy-wasm (ABI 0.2.1) HTTP filter module; pluginConfig (string, or JSON) is its plugin configuration. */
  wasm?: { url?: string; path?: string; sha256?: string };
}

export interface ManagerOptions {
  loader: PackageLoader;
  container: DependencyContainer;
  waypoint: WaypointIdentity;
  logger: Logger;
  /** The current bindings, after every change. */
  onBindings(bindings: PluginBinding[]): void;
  onStatus?(ref: ResourceRef, condition: StatusCondition): void;
}

interface Active {
  key: string;
  version: string;
  ref: PackageRef;
  binding: PluginBinding;
  failures: number;
}

const versionKey = (p: PackageRef) => `${p.name}@${p.version}#${p.integrity ?? ''}#${p.url ?? p.tarball ?? ''}`;

export class WaypointPluginManager {
  /** `ns/name` -> the binding serving now. */
  readonly #active = new Map<string, Active>();
  #generation = 0;
  #pending: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ManagerOptions) {}

  bindings(): PluginBinding[] {
    return [...this.#active.values()].map((a) => a.binding);
  }

  /** Reconcile with the current WaypointPlugin objects. Resolves once every package settled. */
  sync(objects: K8sObject<WaypointPluginSpec>[]): Promise<void> {
    const gen = ++this.#generation;
    this.#pending = this.#pending.then(() => this.#sync(objects, gen)).catch((err: Error) => this.opts.logger.error('plugin sync failed', { error: err.message }));
    return this.#pending;
  }

  async #sync(objects: K8sObject<WaypointPluginSpec>[], gen: number): Promise<void> {
    const wanted = new Map<string, { obj: K8sObject<WaypointPluginSpec>; appliesTo: (ctx: never) => boolean }>();
    for (const o of objects) {
      const ns = o.metadata.namespace ?? 'default';
      const appliesTo = attachment(o.spec as { targetRef?: TargetRef; targetRefs?: TargetRef[] }, ns, this.opts.waypoint);
      if (appliesTo) wanted.set(`${ns}/${o.metadata.name}`, { obj: o, appliesTo });
    }
    const removedRefs: PackageRef[] = [];
    for (const [key, a] of this.#active) {
      if (!wanted.has(key)) {
        this.#active.delete(key);
        removedRefs.push(a.ref);
      }
    }
    await Promise.all(
      [...wanted].map(async ([key, { obj, appliesTo }]) => {
        const spec = obj.spec ?? {};
        const ref: ResourceRef = { kind: WAYPOINT_PLUGIN_KIND, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name };
        const generation = obj.metadata.generation;
        const status = (status: StatusCondition['status'], reason: string, message: string) =>
          this.opts.onStatus?.(ref, { type: 'Active', status, reason, message, ...(generation !== undefined ? { observedGeneration: generation } : {}) });
        if (!spec.package && !spec.wasm) {
          status('False', 'InvalidSpec', 'one of spec.package or spec.wasm is required');
          return;
        }
        if (spec.phase !== undefined && !isPhase(spec.phase)) {
          status('False', 'InvalidSpec', `unknown phase ${JSON.stringify(spec.phase)}`);
          return;
        }
        const pkgRef: PackageRef = spec.package ?? { name: `wasm:${spec.wasm!.path ?? spec.wasm!.url}`, version: spec.wasm!.sha256 ?? '' };
        const version = versionKey(pkgRef) + JSON.stringify([spec.phase, spec.priority, spec.failStrategy, spec.timeout, spec.pluginConfig, spec.targetRef, spec.targetRefs]);
        const current = this.#active.get(key);
        if (current?.version === version) return;
        try {
          let plugin: Plugin;
          if (spec.package) {
            const loaded = await this.opts.loader.load(spec.package);
            plugin = this.opts.container.resolve(loaded.pluginClass) as Plugin;
          } else {
            const module = await loadWasmModule(spec.wasm!).catch((err: Error & { reason?: string }) => {
              throw new PluginLoadError(err.reason === 'IntegrityMismatch' ? 'IntegrityMismatch' : 'FetchFailed', err.message);
            });
            const cfg = spec.pluginConfig;
            plugin = await WasmHttpFilter.create({
              name: `${ref.namespace}/${ref.name}`,
              module,
              configuration: cfg === undefined ? '' : typeof cfg === 'string' ? cfg : JSON.stringify(cfg),
              logger: this.opts.logger,
            }).catch((err: Error) => {
              throw new PluginLoadError('ImportFailed', `wasm module failed to start: ${err.message}`);
            });
          }
          if (gen !== this.#generation) return; // a newer sync owns the result
          const entry: Active = {
            key,
            version,
            ref: pkgRef,
            failures: 0,
            binding: {
              plugin,
              name: `${ref.namespace}/${ref.name}`,
              phase: spec.phase ?? plugin.phase ?? 'UNSPECIFIED_PHASE',
              priority: spec.priority ?? plugin.priority ?? 0,
              config: spec.pluginConfig,
              failStrategy: spec.failStrategy ?? 'FAIL_CLOSE',
              timeoutMs: parseDuration(spec.timeout) ?? 5000,
              appliesTo,
              onError: (hook, err) => {
                entry.failures++;
                status('True', 'Degraded', `${hook} failed: ${err instanceof Error ? err.message : String(err)} (${entry.failures} failures)`);
              },
            },
          };
          if (current && versionKey(current.ref) !== versionKey(pkgRef)) removedRefs.push(current.ref);
          this.#active.set(key, entry);
          status('True', 'Loaded', spec.package ? `${spec.package.name}@${spec.package.version} active` : `wasm module ${spec.wasm!.path ?? spec.wasm!.url} active`);
          this.opts.logger.info('plugin loaded', { plugin: key, package: `${pkgRef.name}@${pkgRef.version}` });
        } catch (err) {
          const reason = err instanceof PluginLoadError ? err.reason : 'LoadFailed';
          const message = (err as Error).message;
          this.opts.logger.error('plugin load failed', { plugin: key, reason, error: message });
          status('False', reason, message);
          // The previous version (if any) keeps serving. A FAIL_CLOSE plugin that never loaded fails its requests.
          if (!current && (spec.failStrategy ?? 'FAIL_CLOSE') === 'FAIL_CLOSE') {
            this.#active.set(key, {
              key,
              version,
              ref: pkgRef,
              failures: 0,
              binding: {
                plugin: unavailable(`${ref.namespace}/${ref.name}`),
                phase: spec.phase ?? 'UNSPECIFIED_PHASE',
                priority: spec.priority ?? 0,
                failStrategy: 'FAIL_CLOSE',
                appliesTo,
              },
            });
          }
        }
      }),
    );
    if (gen !== this.#generation) return;
    this.opts.onBindings(this.bindings());
    // Remove versions nobody references any more (after the chain swapped to the new ones).
    const inUse = new Set([...this.#active.values()].map((a) => this.opts.loader.dirOf(a.ref)));
    for (const r of removedRefs) {
      if (r.name.startsWith('wasm:')) continue;
      if (!inUse.has(this.opts.loader.dirOf(r))) await this.opts.loader.remove(r).catch(() => undefined);
    }
  }
}

function unavailable(name: string): Plugin {
  return {
    name,
    onRequest(ctx) {
      ctx.deny(503, `plugin ${name} unavailable`, {}, name);
      ctx.localReply!.flag = 'PF';
    },
  };
}
