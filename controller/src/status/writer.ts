// Writes the computed statuses: AuthorizationPolicy conditions (status subresource, server-side apply) and this
// controller's HTTPRoute and GRPCRoute status.parents entries (read-modify-write with resourceVersion, other controllers'
// entries kept). Compares with the cached objects first and writes only what changed, so its own writes (which
// come back through the informers and trigger a rebuild) end in a no-op instead of a loop. One pass at a time;
// a model that arrives during a pass is handled after it (only the newest). Also: the waypoint Gateways' listener
// attachedRoutes, and WaypointPlugin `Active` from the waypoints' reports (a changed report starts a pass with the
// last model: refresh).

import { KubeError, type KubeClient } from '../kube/client.js';
import { R, type Condition, type KubeObject, type ResourceType } from '../kube/resources.js';
import { applyStatus, kubeTime, mergeConditions, mergeRouteParents, sameIgnoringTransitionTimes, updateOwnRouteParents, type RouteParentStatus } from '../kube/status.js';
import type { MeshModel } from '../mesh/model.js';
import type { MeshInput } from '../mesh/input.js';
import { GATEWAY_CONTROLLER, MESH_CONTROLLER } from '../gateway/constants.js';
import { isIngressGateway } from '../mesh/ingress-gateway-api.js';
import { ingressAttachedRoutes, ingressRouteParentStatuses } from './ingress-routes.js';
import type { Gateway } from '../gateway/types.js';
import type { WaypointStatusReport } from '../push/status.js';
import { attachedRoutes, authorizationPolicyConditions, isMeshGateway, routeParentStatuses } from './compute.js';
import { ACTIVE, pluginWaypoints, reportsByPlugin, waypointPluginActive } from './plugins.js';

export const STATUS_FIELD_MANAGER = 'ambit-status';

export interface StatusWriterOptions {
  client: KubeClient;
  rootNamespace?: string;
  /** The waypoints' current status reports (WaypointPlugin Active); none when absent. */
  reports?: () => WaypointStatusReport[];
  /** Delay before a pass with failed writes is repeated (default 5 s). */
  retryMs?: number;
  log?: { info(msg: string, f?: Record<string, unknown>): void; warn(msg: string, f?: Record<string, unknown>): void };
}

function rtOf(o: KubeObject, plural: string): ResourceType {
  const [group, version] = (o.apiVersion ?? '').includes('/') ? o.apiVersion!.split('/') : ['', o.apiVersion ?? 'v1'];
  return { group, version, plural, kind: o.kind ?? '', namespaced: true };
}

export class StatusWriter {
  readonly #opts: StatusWriterOptions;
  #pending: { model: MeshModel; input: MeshInput } | undefined;
  #last: { model: MeshModel; input: MeshInput } | undefined;
  /**
   * WaypointPlugin Active as last written, by uid: a pass started by a report may run before the informers bring
   * back the previous write, and must not take the older cached condition for the current one.
   */
  readonly #writtenActive = new Map<string, Condition>();
  #running: Promise<void> | undefined;
  #stopped = false;
  #failed = false;
  #retry: NodeJS.Timeout | undefined;
  /** Writes made so far (tests, logs). */
  writes = 0;

  constructor(opts: StatusWriterOptions) {
    this.#opts = opts;
  }

  /** Schedules a pass for this model (coalesced with later ones). */
  update(model: MeshModel, input: MeshInput): void {
    if (this.#stopped) return;
    this.#pending = { model, input };
    this.#last = this.#pending;
    this.#running ??= this.#loop().finally(() => (this.#running = undefined));
  }

  /** Schedules a pass with the last model (the waypoints' reports changed). */
  refresh(): void {
    if (this.#last && !this.#pending) this.update(this.#last.model, this.#last.input);
  }

  /** Resolves once no pass is running or pending. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pending = undefined;
    clearTimeout(this.#retry);
    await this.idle();
  }

  async #loop(): Promise<void> {
    while (this.#pending && !this.#stopped) {
      const last = this.#pending;
      this.#pending = undefined;
      this.#failed = false;
      await this.sync(last.model, last.input);
      // A failed write is tried again with the same model unless a newer one comes first.
      if (this.#failed && !this.#stopped) {
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => {
          if (!this.#pending) this.update(last.model, last.input);
        }, this.#opts.retryMs ?? 5_000);
        this.#retry.unref();
      }
    }
  }

  /** One pass: every AuthorizationPolicy, HTTPRoute, GRPCRoute and TLSRoute of the input. */
  async sync(model: MeshModel, input: MeshInput): Promise<void> {
    const now = kubeTime();
    for (const ap of input.authorizationPolicies ?? []) {
      if (this.#stopped) return;
      const status = (ap.status ?? {}) as { conditions?: Condition[] };
      const desired = authorizationPolicyConditions(ap, input, model, this.#opts.rootNamespace);
      const drop = new Set(['ZtunnelAccepted', 'WaypointAccepted'].filter((t) => !desired.some((d) => d.type === t)));
      const others = (status.conditions ?? []).filter((c) => !drop.has(c.type));
      const next = mergeConditions(others, desired, now, true);
      if (sameIgnoringTransitionTimes(status.conditions ?? [], next)) continue;
      await this.#write(ap, () => applyStatus(this.#opts.client, rtOf(ap, 'authorizationpolicies'), ap, { conditions: next }, STATUS_FIELD_MANAGER));
    }
    const routes = [...(input.httpRoutes ?? []).map((r) => [r, 'httproutes'] as const), ...(input.grpcRoutes ?? []).map((r) => [r, 'grpcroutes'] as const)];
    for (const [route, plural] of routes) {
      if (this.#stopped) return;
      const ours = routeParentStatuses(route, input);
      const parents = ((route.status ?? {}) as { parents?: RouteParentStatus[] }).parents ?? [];
      if (sameIgnoringTransitionTimes(parents, mergeRouteParents(parents, MESH_CONTROLLER, ours, now))) continue;
      await this.#write(route, () => updateOwnRouteParents(this.#opts.client, rtOf(route, plural), route.metadata.namespace!, route.metadata.name!, MESH_CONTROLLER, ours));
    }
    // The ingress (class `istio`) controller's entries, under its own controllerName (TLSRoutes only attach there).
    for (const [route, plural] of [...routes, ...(input.tlsRoutes ?? []).map((r) => [r, 'tlsroutes'] as const)]) {
      if (this.#stopped) return;
      const ours = ingressRouteParentStatuses(route, input);
      const parents = ((route.status ?? {}) as { parents?: RouteParentStatus[] }).parents ?? [];
      if (sameIgnoringTransitionTimes(parents, mergeRouteParents(parents, GATEWAY_CONTROLLER, ours, now))) continue;
      await this.#write(route, () => updateOwnRouteParents(this.#opts.client, rtOf(route, plural), route.metadata.namespace!, route.metadata.name!, GATEWAY_CONTROLLER, ours));
    }
    for (const gw of input.gateways) {
      if (this.#stopped) return;
      await this.#syncAttachedRoutes(gw, input);
    }
    await this.#syncPlugins(model, input, now);
  }

  /** WaypointPlugin `Active` (status subresource, server-side apply of that one condition). */
  async #syncPlugins(model: MeshModel, input: MeshInput, now: string): Promise<void> {
    const plugins = input.waypointPlugins ?? [];
    if (!plugins.length) return;
    const targets = pluginWaypoints(model);
    const reports = reportsByPlugin(this.#opts.reports?.() ?? []);
    const uids = new Set(plugins.map((p) => p.metadata.uid ?? ''));
    for (const uid of this.#writtenActive.keys()) if (!uids.has(uid)) this.#writtenActive.delete(uid);
    for (const p of plugins) {
      if (this.#stopped) return;
      const key = `${p.metadata.namespace}/${p.metadata.name}`;
      const uid = p.metadata.uid ?? '';
      const cached = ((p.status ?? {}) as { conditions?: Condition[] }).conditions?.find((c) => c.type === ACTIVE);
      const existing = this.#writtenActive.get(uid) ?? cached;
      const desired = waypointPluginActive({ plugin: p, waypoints: targets.get(key) ?? [], reports: reports.get(key) ?? [], existing, rootNamespace: this.#opts.rootNamespace });
      if (!desired) continue;
      const next = mergeConditions(existing ? [existing] : [], [desired], now);
      if (existing && sameIgnoringTransitionTimes([existing], next)) continue;
      await this.#write(p, async () => {
        await applyStatus(this.#opts.client, rtOf(p, 'waypointplugins'), p, { conditions: next }, STATUS_FIELD_MANAGER);
        if (uid) this.#writtenActive.set(uid, next[0]!);
      });
    }
  }

  /**
   * A waypoint Gateway's listener `attachedRoutes`, once the Gateway controller has written its listener statuses
   * (it keeps the count it finds). Read-modify-write with resourceVersion; retried on conflict.
   */
  async #syncAttachedRoutes(gw: Gateway, input: MeshInput): Promise<void> {
    const counts = isMeshGateway(gw, input) ? attachedRoutes(gw, input) : isIngressGateway(gw, input) ? ingressAttachedRoutes(gw, input) : undefined;
    if (!counts) return;
    const differs = (g: Gateway) => (g.status?.listeners ?? []).some((l) => counts.has(l.name) && l.attachedRoutes !== counts.get(l.name));
    if (!differs(gw)) return;
    await this.#write(gw, async () => {
      for (let i = 0; i < 5; i++) {
        const cur = await this.#opts.client.getOrUndefined<Gateway>(R.gateway, gw.metadata.namespace!, gw.metadata.name!);
        if (!cur || !differs(cur)) return;
        const listeners = cur.status!.listeners!.map((l) => (counts.has(l.name) ? { ...l, attachedRoutes: counts.get(l.name)! } : l));
        try {
          await this.#opts.client.replace(R.gateway, { ...cur, status: { ...cur.status, listeners } }, 'status', { fieldManager: STATUS_FIELD_MANAGER });
          return;
        } catch (err) {
          if (!(err instanceof KubeError && err.conflict)) throw err;
        }
      }
      throw new KubeError(`status of Gateway ${gw.metadata.namespace}/${gw.metadata.name}: too many conflicts`, 409, 'Conflict');
    });
  }

  async #write(o: KubeObject, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
      this.writes++;
    } catch (err) {
      if (err instanceof KubeError && err.notFound) return; // deleted meanwhile
      this.#failed = true;
      this.#opts.log?.warn('status write failed', { object: `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`, error: (err as Error).message });
    }
  }
}
