// The waypoint's plugins: one tsyringe container per waypoint holding every token a plugin may depend on, the
// chain built from the built-in, extra and WaypointPlugin (package) plugins, the route table compiled when the
// config changes, and the resources' status conditions sent on to the controller (and to `onStatus`).

import {
  ACCESS_LOG,
  CLOCK,
  container as rootContainer,
  LOGGER,
  Lifecycle,
  MESH_STATE,
  METRICS,
  PLUGIN,
  PluginChain,
  RESOURCES,
  STATUS,
  systemClock,
  TRACING,
  WAYPOINT,
  type AccessLogSink,
  type DependencyContainer,
  type InMemoryMeshState,
  type InMemoryResources,
  type InMemoryTracing,
  type Logger,
  type MemoryStatusReporter,
  type MetricsRegistry,
  type Plugin,
  type PluginBinding,
  type PluginClass,
  type ResourceRef,
  type StatusCondition,
  type WaypointIdentity,
} from '@ambit/plugin-sdk';
import {
  AuthzPlugin,
  findPluginPolicy,
  PackageLoader,
  RoutingPlugin,
  sourceAllowed,
  TelemetryPlugin,
  WAYPOINT_PLUGIN_GROUP,
  WAYPOINT_PLUGIN_KIND,
  WaypointPluginManager,
  type PluginPolicy,
  type WaypointPluginSpec,
} from '@ambit/plugins';
import { PluginStatusPublisher } from './config/plugin-status.js';
import type { ConfigSource } from './config/source.js';

export const BUILTIN_PLUGINS: PluginClass[] = [AuthzPlugin, RoutingPlugin, TelemetryPlugin];

/** What the container holds, each registered as its token. */
export interface PluginHostParts {
  identity: WaypointIdentity;
  logger: Logger;
  metrics: MetricsRegistry;
  mesh: InMemoryMeshState;
  resources: InMemoryResources;
  tracing: InMemoryTracing;
  status: MemoryStatusReporter;
  accessLog: AccessLogSink;
}

export interface PluginHostOptions {
  builtin?: PluginClass[];
  plugins?: Array<PluginClass | PluginBinding>;
  source?: ConfigSource;
  pluginsDir?: string;
  pluginPolicy?: PluginPolicy;
  pluginNamespaces?: string[];
  onStatus?(ref: ResourceRef, condition: StatusCondition): void;
}

export class PluginHost {
  readonly container: DependencyContainer;
  /** The WaypointPlugin manager (only with a plugins directory). */
  readonly plugins?: WaypointPluginManager;
  /** The built-in routing plugins (their tables are compiled off the request path). */
  readonly routers: readonly RoutingPlugin[];
  readonly #logger: Logger;
  readonly #builtin: Plugin[];
  readonly #extra: PluginBinding[];
  #dynamic: PluginBinding[] = [];
  #chain: PluginChain;
  readonly #publisher?: PluginStatusPublisher;

  constructor(parts: PluginHostParts, opts: PluginHostOptions, defaults: PluginClass[] = BUILTIN_PLUGINS) {
    this.#logger = parts.logger;
    // One container per waypoint: the tokens, then the plugin classes (ContainerScoped: one instance each).
    const c = rootContainer.createChildContainer();
    c.register(LOGGER, { useValue: parts.logger });
    c.register(METRICS, { useValue: parts.metrics });
    c.register(MESH_STATE, { useValue: parts.mesh });
    c.register(RESOURCES, { useValue: parts.resources });
    c.register(TRACING, { useValue: parts.tracing });
    c.register(WAYPOINT, { useValue: parts.identity });
    c.register(CLOCK, { useValue: systemClock });
    c.register(STATUS, { useValue: parts.status });
    c.register(ACCESS_LOG, { useValue: parts.accessLog });
    this.container = c;
    for (const cls of opts.builtin ?? defaults) c.register(PLUGIN, { useClass: cls }, { lifecycle: Lifecycle.ContainerScoped });
    this.#builtin = c.isRegistered(PLUGIN) ? c.resolveAll(PLUGIN) : [];
    this.routers = this.#builtin.filter((p): p is RoutingPlugin => p instanceof RoutingPlugin);
    this.#extra = (opts.plugins ?? []).map((p) => (typeof p === 'function' ? { plugin: c.resolve(p) } : p));
    this.#chain = this.#buildChain();
    this.#publisher = this.#reportStatus(parts, opts);
    if (opts.pluginsDir) this.plugins = this.#packages(parts, opts, opts.pluginsDir);
  }

  get chain(): PluginChain {
    return this.#chain;
  }

  /** Replace the plugins that come from resources (WaypointPlugin); in-flight requests keep their chain. */
  setDynamicPlugins(bindings: PluginBinding[]): void {
    this.#dynamic = bindings;
    this.#chain = this.#buildChain();
    this.#logger.info('plugin chain updated', { chain: this.#chain.entries.map((e) => `${e.phase}/${e.priority}/${e.name}`).join(',') });
  }

  /**
   * After a config is applied: every plugin of the chain prepares what it derives from config (`onConfig`: the
   * route table, the authorization policies and their status), so the first request after a change does not pay
   * for it. A plugin that fails here is logged (the built-in routing then keeps serving its last good table).
   */
  configApplied(): void {
    for (const { plugin } of this.#chain.entries) {
      try {
        plugin.onConfig?.();
      } catch (err) {
        this.#logger.warn('plugin could not prepare the new config', { plugin: plugin.name, error: (err as Error).message });
      }
    }
  }

  /** Stop sending status to the controller (the first step of closing). */
  stopStatus(): void {
    this.#publisher?.close();
  }

  /** Unload the package plugins. */
  async close(): Promise<void> {
    this.stopStatus();
    await this.plugins?.close();
  }

  #buildChain(): PluginChain {
    return new PluginChain([...this.#builtin.map((plugin) => ({ plugin })), ...this.#extra, ...this.#dynamic], { logger: this.#logger });
  }

  /** WaypointPlugin conditions go to the controller when the config source leads back to it, and to `onStatus`. */
  #reportStatus({ status, resources }: PluginHostParts, opts: PluginHostOptions): PluginStatusPublisher | undefined {
    const source = opts.source;
    const publisher = source?.reportStatus ? new PluginStatusPublisher({ send: (r) => source.reportStatus!(r) }) : undefined;
    if (publisher) resources.onChange(() => publisher.setPresent(resources.list(WAYPOINT_PLUGIN_KIND, WAYPOINT_PLUGIN_GROUP).map((o) => o.metadata)));
    if (opts.onStatus || publisher) {
      const report = status.report.bind(status);
      status.report = (ref, c) => {
        report(ref, c);
        publisher?.report(ref, c);
        opts.onStatus?.(ref, c);
      };
    }
    return publisher;
  }

  /** WaypointPlugin packages from `dir`, allowed by the policy ConfigMap (or `pluginPolicy`), synced with the resources. */
  #packages({ identity, resources, status }: PluginHostParts, opts: PluginHostOptions, dir: string): WaypointPluginManager {
    const policy = () => findPluginPolicy(resources.list('ConfigMap', ''), identity.rootNamespace) ?? opts.pluginPolicy;
    const manager = new WaypointPluginManager({
      loader: new PackageLoader({ root: dir, allowSource: (url) => sourceAllowed(policy(), url) }),
      policy,
      allowedNamespaces: opts.pluginNamespaces,
      container: this.container,
      waypoint: identity,
      logger: this.#logger.child('plugins'),
      onBindings: (b) => this.setDynamicPlugins(b),
      onStatus: (ref, cond) => status.report(ref, cond),
    });
    resources.onChange(() => {
      void manager.sync(resources.list<WaypointPluginSpec>(WAYPOINT_PLUGIN_KIND, WAYPOINT_PLUGIN_GROUP));
    });
    return manager;
  }
}
