// WaypointPlugin (extensions.ambit.dev/v1alpha1) resources -> chain bindings. For each resource attached to
// this waypoint (targetRefs as Istio's WasmPlugin) the trust rules are checked first (./policy.ts): the
// plugin's namespace is this waypoint's, the root namespace, or one the waypoint's owner accepts; the package
// (or wasm module) carries an integrity hash; the administrator's allow-list names the package and its source.
// Then the package is installed by the loader and run in a sandboxed process of its own (./sandbox/host.ts), or
// the wasm module instantiated in a worker thread of its own (./wasm-isolate.ts),
// bound with the resource's phase, priority, failStrategy, timeout (also the hook's budget) and pluginConfig.
// A new version replaces the old binding only once it has loaded, so no request fails during a swap; versions
// no longer referenced are removed. A refused plugin stops serving at once. Status goes to `onStatus`:
// Active=True (Loaded, Degraded) or Active=False with the reason (NotAllowed, IntegrityRequired,
// UnpinnedDependencies, FetchFailed, IntegrityMismatch, ...).

import {
  isPhase,
  METRICS,
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
import { namespaceAllowed, PLUGIN_NAMESPACES_ANNOTATION, refusePackage, refuseWasm, type PluginPolicy } from './policy.js';
import { SandboxedPlugin } from './sandbox/host.js';
import { loadWasmModule } from './wasm.js';
import { IsolatedWasmFilter } from './wasm-isolate.js';

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
  /** The administrator's allow-list now (ConfigMap ambit-plugin-policy); undefined: nothing is allowed. */
  policy(): PluginPolicy | undefined;
  /** Namespaces besides its own and the root namespace whose plugins this waypoint accepts (`*`: any). */
  allowedNamespaces?: readonly string[];
  /** Heap limit of each plugin's process, MiB (default 128). */
  maxHeapMb?: number;
}

interface Active {
  key: string;
  version: string;
  ref: PackageRef;
  binding: PluginBinding;
  failures: number;
  /** Stops the plugin's process (sandboxed packages). */
  close?(): Promise<void>;
}

const versionKey = (p: PackageRef) => `${p.name}@${p.version}#${p.integrity ?? ''}#${p.url ?? p.tarball ?? ''}`;

export class WaypointPluginManager {
  /** `ns/name` -> the binding serving now. */
  readonly #active = new Map<string, Active>();
  #generation = 0;
  #pending: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ManagerOptions) {}

  /** Stop every plugin process (the waypoint is shutting down). */
  async close(): Promise<void> {
    ++this.#generation;
    await this.#pending;
    const all = [...this.#active.values()];
    this.#active.clear();
    await Promise.all(all.map((a) => a.close?.().catch(() => undefined)));
  }

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
    const closing: Active[] = [];
    for (const [key, a] of this.#active) {
      if (!wanted.has(key)) {
        this.#active.delete(key);
        removedRefs.push(a.ref);
        closing.push(a);
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
        const refusal = this.#refusal(ref.namespace, spec);
        if (refusal) {
          // A refused plugin stops serving at once (the previous version too); FAIL_CLOSE fails its requests.
          if (current?.close) closing.push(current);
          if (current) removedRefs.push(current.ref);
          this.#active.delete(key);
          this.opts.logger.warn('plugin refused', { plugin: key, reason: refusal.reason, error: refusal.message });
          status('False', refusal.reason, refusal.message);
          if ((spec.failStrategy ?? 'FAIL_CLOSE') === 'FAIL_CLOSE') this.#active.set(key, this.#unavailable(key, version, pkgRef, ref, spec, appliesTo));
          return;
        }
        if (current?.version === version) return;
        const timeoutMs = parseDuration(spec.timeout) ?? 5000;
        let close: (() => Promise<void>) | undefined;
        let entry!: Active;
        try {
          let plugin: Plugin;
          if (spec.package) {
            const installed = await this.opts.loader.install(spec.package);
            const sandboxed = await SandboxedPlugin.start({
              installed,
              name: `${ref.namespace}/${ref.name}`,
              waypoint: this.opts.waypoint,
              logger: this.opts.logger.child(`${ref.namespace}/${ref.name}`),
              budgetMs: timeoutMs,
              maxHeapMb: this.opts.maxHeapMb,
              // the request that found the process gone already counted as a failure (onError below)
              onRestart: (why) => status('True', 'Degraded', `${why} (${entry.failures} failures)`),
            });
            plugin = sandboxed;
            close = () => sandboxed.close();
          } else {
            const module = await loadWasmModule(spec.wasm!).catch((err: Error & { reason?: string }) => {
              throw new PluginLoadError(err.reason === 'IntegrityMismatch' ? 'IntegrityMismatch' : 'FetchFailed', err.message);
            });
            const cfg = spec.pluginConfig;
            // The VM runs in a worker thread: a call that overruns the timeout is stopped there (503 PF per
            // failStrategy) and the module re-instantiated, while the waypoint keeps serving.
            const filter = await IsolatedWasmFilter.create({
              name: `${ref.namespace}/${ref.name}`,
              module,
              configuration: cfg === undefined ? '' : typeof cfg === 'string' ? cfg : JSON.stringify(cfg),
              logger: this.opts.logger,
              budgetMs: timeoutMs,
              metrics: this.opts.container.isRegistered(METRICS, true) ? this.opts.container.resolve(METRICS) : undefined,
              onRestart: (why) => status('True', 'Degraded', `${why} (${entry.failures} failures)`),
            }).catch((err: Error) => {
              throw new PluginLoadError('ImportFailed', `wasm module failed to start: ${err.message}`);
            });
            plugin = filter;
            close = () => filter.close();
          }
          if (gen !== this.#generation) {
            await close?.(); // a newer sync owns the result
            return;
          }
          entry = {
            key,
            version,
            ref: pkgRef,
            failures: 0,
            close,
            binding: {
              plugin,
              name: `${ref.namespace}/${ref.name}`,
              phase: spec.phase ?? plugin.phase ?? 'UNSPECIFIED_PHASE',
              priority: spec.priority ?? plugin.priority ?? 0,
              config: spec.pluginConfig,
              failStrategy: spec.failStrategy ?? 'FAIL_CLOSE',
              timeoutMs,
              appliesTo,
              onError: (hook, err) => {
                entry.failures++;
                status('True', 'Degraded', `${hook} failed: ${err instanceof Error ? err.message : String(err)} (${entry.failures} failures)`);
              },
            },
          };
          if (current && versionKey(current.ref) !== versionKey(pkgRef)) removedRefs.push(current.ref);
          if (current) closing.push(current);
          this.#active.set(key, entry);
          status('True', 'Loaded', spec.package ? `${spec.package.name}@${spec.package.version} active` : `wasm module ${spec.wasm!.path ?? spec.wasm!.url} active`);
          this.opts.logger.info('plugin loaded', { plugin: key, package: `${pkgRef.name}@${pkgRef.version}` });
        } catch (err) {
          const reason = err instanceof PluginLoadError ? err.reason : 'LoadFailed';
          const message = (err as Error).message;
          this.opts.logger.error('plugin load failed', { plugin: key, reason, error: message });
          status('False', reason, message);
          // The previous version (if any) keeps serving. A FAIL_CLOSE plugin that never loaded fails its requests.
          if (!current && (spec.failStrategy ?? 'FAIL_CLOSE') === 'FAIL_CLOSE') this.#active.set(key, this.#unavailable(key, version, pkgRef, ref, spec, appliesTo));
        }
      }),
    );
    if (gen !== this.#generation) {
      await Promise.all(closing.map((a) => a.close?.().catch(() => undefined)));
      return;
    }
    this.opts.onBindings(this.bindings());
    // Processes of plugins no longer in the chain (in-flight requests on them fail over per failStrategy).
    const live = new Set(this.#active.values());
    await Promise.all(closing.filter((a) => !live.has(a)).map((a) => a.close?.().catch(() => undefined)));
    // Remove versions nobody references any more (after the chain swapped to the new ones).
    const inUse = new Set([...this.#active.values()].map((a) => this.opts.loader.dirOf(a.ref)));
    for (const r of removedRefs) {
      if (r.name.startsWith('wasm:')) continue;
      if (!inUse.has(this.opts.loader.dirOf(r))) await this.opts.loader.remove(r).catch(() => undefined);
    }
  }

  /** Why this waypoint must not run the plugin at all, before anything is fetched. */
  #refusal(namespace: string, spec: WaypointPluginSpec): { reason: string; message: string } | undefined {
    const w = this.opts.waypoint;
    if (!namespaceAllowed(namespace, w, this.opts.allowedNamespaces ?? [])) {
      return {
        reason: 'NotAllowed',
        message: `waypoint ${w.namespace}/${w.name} runs plugins of namespace ${w.namespace} only: its owner can accept namespace ${namespace} with the Gateway annotation ${PLUGIN_NAMESPACES_ANNOTATION}`,
      };
    }
    if (spec.package) return refusePackage(this.opts.policy(), spec.package, w.rootNamespace, this.opts.loader.registry);
    return refuseWasm(this.opts.policy(), spec.wasm!, w.rootNamespace);
  }

  #unavailable(key: string, version: string, pkgRef: PackageRef, ref: ResourceRef, spec: WaypointPluginSpec, appliesTo: (ctx: never) => boolean): Active {
    return { key, version: `refused:${version}`, ref: pkgRef, failures: 0, binding: unavailableBinding(`${ref.namespace}/${ref.name}`, spec, appliesTo) };
  }
}

function unavailableBinding(name: string, spec: WaypointPluginSpec, appliesTo: (ctx: never) => boolean): PluginBinding {
  return { plugin: unavailable(name), phase: spec.phase ?? 'UNSPECIFIED_PHASE', priority: spec.priority ?? 0, failStrategy: 'FAIL_CLOSE', appliesTo };
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
