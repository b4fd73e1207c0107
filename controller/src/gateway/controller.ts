// The waypoint deployment controller: keeps GatewayClasses `istio-mesh` and `istio-waypoint`, reconciles Gateways of
// mesh-controller classes into ServiceAccount + Deployment + Service by server-side apply, writes Gateway status,
// and writes the `istio.io/WaypointBound` condition on Services. Reconcile = read informer caches -> pure
// functions (render.ts, status.ts, binding.ts) -> apply.
import { KubeClient, KubeError } from '../kube/client.js';
import type { Informer } from '../kube/informer.js';
import { InformerSet } from '../kube/informers.js';
import { nullLogger, type Logger } from '@ambit/mesh-api';
import { registry as defaultRegistry, type Registry } from '../kube/metrics.js';
import { R, splitKey, type Condition, type KubeObject, type ResourceType } from '../kube/resources.js';
import { applyStatus, kubeTime, sameIgnoringTransitionTimes } from '../kube/status.js';
import { WorkQueue } from '../kube/workqueue.js';
import { waypointBoundCondition, type ResolveContext } from './binding.js';
import { A, ANY_MANAGED_SELECTOR, BUILTIN_CLASSES, controllerFor, CLASS_DESCRIPTION, CONTROLLER_VERSION, FIELD_MANAGER, GATEWAY_CONTROLLER, INGRESS_MANAGED_VALUE, L, MANAGED_VALUE, WAYPOINT_BOUND } from './constants.js';
import type { IngressListenerContext } from './ingress-listeners.js';
import { configMapKeysOnly, parametersConfigMapName, type ConfigMapKeys } from './parameters.js';
import { DEPLOYING_CONTROLLERS, planGateway } from './plan.js';
import { ingressNames, waypointNames } from './names.js';
import type { RenderContext } from './render.js';
import { computeGatewayClassStatus } from './status.js';
import type { EndpointSlice, Gateway, GatewayClass, Namespace, Service } from './types.js';

export interface WaypointControllerOptions extends RenderContext {
  client: KubeClient;
  log?: Logger;
  registry?: Registry;
  /** Parallel reconciles per queue. */
  concurrency?: number;
  /** Informer resync period. */
  resyncMs?: number;
  /** Create the built-in GatewayClasses when absent (default true). */
  manageClasses?: boolean;
  /** The process's shared informers (then `resyncMs` is the set's, and the set's owner stops them); else its own. */
  informers?: InformerSet;
  /** The TLS Secrets and ReferenceGrants class `istio` Gateways' listeners read (the mesh model's); absent: none. */
  ingressContext?: () => IngressListenerContext | undefined;
}

const MANAGED_SELECTOR = ANY_MANAGED_SELECTOR;
/** Objects rendered by either controller. */
const isManagedObject = (o: KubeObject): boolean => o.metadata.labels?.[L.managed] === MANAGED_VALUE || o.metadata.labels?.[L.managed] === INGRESS_MANAGED_VALUE;

export class WaypointController {
  readonly gatewayClasses: Informer<GatewayClass>;
  readonly gateways: Informer<Gateway>;
  readonly deployments: Informer;
  readonly services: Informer<Service>;
  readonly serviceAccounts: Informer;
  readonly endpointSlices: Informer<EndpointSlice>;
  readonly namespaces: Informer<Namespace>;
  /** Every ConfigMap, keys only: what `spec.infrastructure.parametersRef` may name. */
  readonly configMaps: Informer<ConfigMapKeys>;
  private gatewayQueue?: WorkQueue;
  private classQueue?: WorkQueue;
  private serviceQueue?: WorkQueue;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly registry: Registry;
  private readonly m;
  private running = false;
  private readonly informers: InformerSet;
  private readonly ownInformers: boolean;

  constructor(private readonly opts: WaypointControllerOptions) {
    this.client = opts.client;
    this.log = (opts.log ?? nullLogger).child('gateway');
    this.registry = opts.registry ?? defaultRegistry;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers ?? new InformerSet(this.client, { log: opts.log, registry: this.registry, resyncMs: opts.resyncMs });
    const inf = this.informers;
    this.gatewayClasses = inf.informer<GatewayClass>(R.gatewayClass);
    this.gateways = inf.informer<Gateway>(R.gateway);
    this.deployments = inf.informer(R.deployment, { labelSelector: MANAGED_SELECTOR, transform: slimDeployment });
    this.serviceAccounts = inf.informer(R.serviceAccount, { labelSelector: MANAGED_SELECTOR });
    this.services = inf.informer<Service>(R.service);
    // Every EndpointSlice of the cluster when shared (the mesh model reads them all); only the waypoints' otherwise.
    this.endpointSlices = this.ownInformers ? inf.informer<EndpointSlice>(R.endpointSlice, { labelSelector: MANAGED_SELECTOR }) : inf.informer<EndpointSlice>(R.endpointSlice);
    this.namespaces = inf.informer<Namespace>(R.namespace);
    this.configMaps = inf.informer<ConfigMapKeys>(R.configMap, { transform: configMapKeysOnly });
    this.m = {
      applies: this.registry.counter('gateway_objects_applied_total', 'Objects server-side applied for waypoint Gateways, by kind', ['kind']),
      statusWrites: this.registry.counter('status_writes_total', 'Status writes, by kind', ['kind']),
      gateways: this.registry.gauge('waypoint_gateways', 'Waypoint Gateways known to the controller', [], () => [[{}, this.gateways.list((g) => this.isOurs(g)).length]]),
    };
    this.wireEvents();
  }

  /** Starts the informers (safe before leadership: a standby keeps warm caches). */
  async startInformers(): Promise<void> {
    if (this.gateways.hasSynced) return;
    await Promise.all([this.gatewayClasses, this.gateways, this.deployments, this.serviceAccounts, this.services, this.endpointSlices, this.namespaces, this.configMaps].map((i) => i.start()));
    this.log.info('caches synced', { gateways: this.gateways.size, services: this.services.size });
  }

  /** Starts reconciling (call while leading). */
  async start(): Promise<void> {
    await this.startInformers();
    if (this.running) return;
    this.running = true;
    const concurrency = this.opts.concurrency ?? 8;
    const mk = (name: string) => new WorkQueue({ name, concurrency, log: this.opts.log, registry: this.registry });
    this.classQueue = mk('gatewayclass');
    this.gatewayQueue = mk('gateway');
    this.serviceQueue = mk('service');
    this.classQueue.run((k) => this.reconcileClass(k), 'gatewayclass');
    this.gatewayQueue.run((k) => this.reconcileGateway(k), 'gateway');
    this.serviceQueue.run((k) => this.reconcileService(k), 'service');
    if (this.opts.manageClasses !== false) for (const c of Object.keys(BUILTIN_CLASSES)) this.classQueue.add(c);
    for (const c of this.gatewayClasses.list()) this.classQueue.add(c.metadata.name!);
    for (const g of this.gateways.list()) this.gatewayQueue.add(`${g.metadata.namespace}/${g.metadata.name}`);
    // Also orphans: managed objects whose Gateway is gone (deleted while no controller ran).
    for (const o of [...this.deployments.list(), ...this.services.list(isManagedObject), ...this.serviceAccounts.list()]) this.enqueueOwner(o);
    for (const s of this.services.list()) this.enqueueService(s);
    this.log.info('reconciling started');
  }

  /** Stops reconciling; informers keep running unless `all` is set. */
  async stop(all = false): Promise<void> {
    if (this.running) {
      this.running = false;
      await Promise.all([this.classQueue?.shutdown(), this.gatewayQueue?.shutdown(), this.serviceQueue?.shutdown()]);
      this.log.info('reconciling stopped');
    }
    if (all && this.ownInformers) await this.informers.stop();
  }

  /** Resolves when every queue is empty and idle (tests, benchmarks). */
  async idle(): Promise<void> {
    await Promise.all([this.classQueue?.idle(), this.gatewayQueue?.idle(), this.serviceQueue?.idle()]);
  }

  // ---- event wiring -------------------------------------------------------------------------------------------

  private enqueueGateway(ns: string | undefined, name: string | undefined): void {
    if (ns && name) this.gatewayQueue?.add(`${ns}/${name}`);
  }

  private enqueueOwner(o: KubeObject): void {
    this.enqueueGateway(o.metadata.namespace, o.metadata.labels?.[L.gatewayName]);
  }

  private enqueueService(s: KubeObject): void {
    this.serviceQueue?.add(`${s.metadata.namespace}/${s.metadata.name}`);
  }

  /** Services whose binding may change when Gateway ns/name changes. */
  private enqueueServicesUsing(ns: string, name: string): void {
    const nsLabels = new Map<string, Record<string, string> | undefined>();
    for (const s of this.services.list()) {
      const sns = s.metadata.namespace!;
      let labels = s.metadata.labels;
      if (labels?.[L.useWaypoint] === undefined) {
        if (!nsLabels.has(sns)) nsLabels.set(sns, this.namespaces.get(sns)?.metadata.labels);
        labels = nsLabels.get(sns);
      }
      const wp = labels?.[L.useWaypoint];
      if (wp === name && (labels?.[L.useWaypointNamespace] || sns) === ns) this.enqueueService(s);
    }
  }

  private wireEvents(): void {
    const meta = (o: KubeObject) => JSON.stringify([o.metadata.generation, o.metadata.labels, o.metadata.annotations, o.metadata.deletionTimestamp]);
    this.gatewayClasses.on({
      add: (c) => this.onClass(c),
      update: (_o, c) => this.onClass(c),
      delete: (c) => this.onClass(c),
    });
    this.gateways.on({
      add: (g) => this.onGateway(g),
      update: (o, g) => {
        if (o !== g && meta(o) === meta(g) && JSON.stringify(o.status?.addresses) === JSON.stringify(g.status?.addresses) && JSON.stringify(o.status) === JSON.stringify(g.status)) return;
        this.onGateway(g);
      },
      delete: (g) => this.onGateway(g),
    });
    for (const inf of [this.deployments, this.serviceAccounts]) {
      inf.on({ add: (o) => this.enqueueOwner(o), update: (_o, n) => this.enqueueOwner(n), delete: (o) => this.enqueueOwner(o) });
    }
    // An EndpointSlice belongs to a Service (kubernetes.io/service-name); the Service names its Gateway.
    const onSlice = (s: EndpointSlice) => {
      if (!isManagedObject(s)) return;
      const svc = this.services.get(`${s.metadata.namespace}/${s.metadata.labels?.['kubernetes.io/service-name']}`);
      this.enqueueGateway(s.metadata.namespace, svc?.metadata.labels?.[L.gatewayName] ?? s.metadata.labels?.[L.gatewayName]);
    };
    this.endpointSlices.on({ add: onSlice, update: (_o, n) => onSlice(n), delete: onSlice });
    const onSvc = (s: Service) => {
      if (isManagedObject(s)) this.enqueueOwner(s);
      this.enqueueService(s);
    };
    this.services.on({
      add: onSvc,
      update: (o, s) => {
        // Our own status writes come back as updates; only labels/spec matter for binding.
        if (o !== s && meta(o) === meta(s) && JSON.stringify(o.spec) === JSON.stringify(s.spec) && JSON.stringify(o.status?.conditions) !== JSON.stringify(s.status?.conditions)) return;
        onSvc(s);
      },
      delete: (s) => {
        if (isManagedObject(s)) this.enqueueOwner(s);
      },
    });
    // A ConfigMap that appears, changes or goes: the Gateways of its namespace whose parametersRef names it.
    const onConfigMap = (cm: ConfigMapKeys) => {
      for (const g of this.gateways.list((g) => g.metadata.namespace === cm.metadata.namespace && parametersConfigMapName(g) === cm.metadata.name)) this.enqueueGateway(g.metadata.namespace, g.metadata.name);
    };
    this.configMaps.on({ add: onConfigMap, update: (_o, n) => onConfigMap(n), delete: onConfigMap });
    this.namespaces.on({
      update: (o, n) => {
        if (o.metadata.labels?.[L.useWaypoint] === n.metadata.labels?.[L.useWaypoint] && o.metadata.labels?.[L.useWaypointNamespace] === n.metadata.labels?.[L.useWaypointNamespace] && o !== n) return;
        for (const s of this.services.inNamespace(n.metadata.name!)) this.enqueueService(s);
      },
    });
  }

  private onClass(c: GatewayClass): void {
    this.classQueue?.add(c.metadata.name!);
    for (const g of this.gateways.list((g) => g.spec?.gatewayClassName === c.metadata.name)) this.enqueueGateway(g.metadata.namespace, g.metadata.name);
  }

  private onGateway(g: Gateway): void {
    this.enqueueGateway(g.metadata.namespace, g.metadata.name);
    this.enqueueServicesUsing(g.metadata.namespace!, g.metadata.name!);
  }

  // ---- helpers ------------------------------------------------------------------------------------------------

  private controllerOf(className: string): string | undefined {
    return controllerFor(className, this.gatewayClasses.get(className));
  }

  isOurs(g: Gateway): boolean {
    return DEPLOYING_CONTROLLERS.includes(this.controllerOf(g.spec?.gatewayClassName) ?? '');
  }

  /** The Secrets or ReferenceGrants changed (a new mesh model): class `istio` Gateways' listeners may resolve otherwise. */
  ingressInputsChanged(): void {
    for (const g of this.gateways.list((g) => this.controllerOf(g.spec?.gatewayClassName) === GATEWAY_CONTROLLER)) this.enqueueGateway(g.metadata.namespace, g.metadata.name);
  }

  private resolveContext(): ResolveContext {
    return {
      namespace: (n) => this.namespaces.get(n),
      gateway: (ns, n) => this.gateways.get(`${ns}/${n}`),
      gatewayClass: (n) => this.gatewayClasses.get(n),
    };
  }

  // ---- GatewayClasses -----------------------------------------------------------------------------------------

  private async reconcileClass(name: string): Promise<void> {
    let cls = this.gatewayClasses.get(name);
    if (!cls && this.opts.manageClasses !== false && BUILTIN_CLASSES[name]) {
      // Create-only: never update a class someone changed; recreate one that was deleted.
      try {
        cls = await this.client.create<GatewayClass>(R.gatewayClass, {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'GatewayClass',
          metadata: { name },
          spec: { controllerName: BUILTIN_CLASSES[name], description: CLASS_DESCRIPTION[name] },
        });
        this.log.info('created GatewayClass', { gatewayclass: name });
      } catch (err) {
        if (!(err instanceof KubeError && err.conflict)) throw err;
        cls = await this.client.get<GatewayClass>(R.gatewayClass, undefined, name);
      }
    }
    if (!cls || !DEPLOYING_CONTROLLERS.includes(cls.spec?.controllerName) || cls.metadata.deletionTimestamp) return;
    const status = computeGatewayClassStatus(cls.status?.conditions, cls.metadata.generation, kubeTime());
    if (sameIgnoringTransitionTimes(cls.status?.conditions, status.conditions)) return;
    await applyStatus(this.client, R.gatewayClass, cls, status, FIELD_MANAGER);
    this.m.statusWrites.inc({ kind: 'GatewayClass' });
  }

  // ---- Gateways -----------------------------------------------------------------------------------------------

  private async reconcileGateway(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const gw = this.gateways.get(key);
    const log = this.log.child('reconcile', { gateway: key });
    if (!gw) return this.cleanupOrphans(namespace!, name);
    if (!this.isOurs(gw)) return;

    // Inputs: what exists under the names the render produces (caches; a GET for kinds cached by label only).
    const ingress = this.controllerOf(gw.spec.gatewayClassName) === GATEWAY_CONTROLLER;
    const names = ingress ? ingressNames(gw) : waypointNames(gw);
    const existing = new Map<string, KubeObject>();
    const lookups: Array<[ResourceType, string, Informer]> = [
      [R.serviceAccount, names.serviceAccount, this.serviceAccounts],
      [R.deployment, names.deployment, this.deployments],
      [R.service, names.deployment, this.services],
    ];
    const found = await Promise.all(lookups.map(([rt, objName, cache]) => this.existing(rt, namespace!, objName, cache)));
    found.forEach((live, i) => live && existing.set(`${lookups[i][0].kind}/${lookups[i][1]}`, live));
    const slices = this.endpointSlices.list((s) => s.metadata.namespace === namespace && isManagedObject(s) && s.metadata.labels?.['kubernetes.io/service-name'] === names.deployment);
    const ingressCtx = ingress ? this.opts.ingressContext?.() : undefined;
    const plan = planGateway({ gateway: gw, gatewayClass: this.gatewayClasses.get(gw.spec.gatewayClassName), existing, endpointSlices: slices, render: this.opts, now: kubeTime(), configMap: (ns, n) => this.configMaps.get(`${ns}/${n}`), ...(ingressCtx ? { ingress: ingressCtx } : {}) });
    if (plan.action === 'ignore') {
      log.debug('ignored', { reason: plan.reason });
      return;
    }

    // Take the Gateway over (controller-version annotation), apply what changed, write status if it changed.
    for (const c of plan.conflicts) log.warn('object exists and is not managed by this controller; leaving it untouched', { object: c });
    const writes: Array<Promise<unknown>> = [];
    if (plan.setControllerVersion) writes.push(this.setControllerVersion(gw));
    for (const obj of plan.apply) {
      const live = existing.get(`${obj.kind}/${obj.metadata.name}`);
      if (live && !needsApply(live, obj)) continue;
      const rt = obj.kind === 'Deployment' ? R.deployment : obj.kind === 'Service' ? R.service : R.serviceAccount;
      writes.push(
        this.client.apply(rt, obj, { fieldManager: FIELD_MANAGER, force: true }).then(() => {
          this.m.applies.inc({ kind: rt.kind });
          log.info('applied', { kind: rt.kind, name: obj.metadata.name });
        }),
      );
    }
    // Independent objects: applied together; any failure fails the reconcile (retried with backoff).
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (sameIgnoringTransitionTimes(pickStatus(gw.status), plan.status)) return;
    await applyStatus(this.client, R.gateway, gw, plan.status, FIELD_MANAGER);
    this.m.statusWrites.inc({ kind: 'Gateway' });
    const programmed = plan.status.conditions?.find((c) => c.type === 'Programmed');
    log.info('status written', { programmed: programmed?.status, reason: programmed?.reason });
  }

  private async existing(rt: ResourceType, namespace: string, name: string, cache: Informer): Promise<KubeObject | undefined> {
    const cached = cache.get(`${namespace}/${name}`);
    if (cached) return cached;
    if (rt === R.service) return undefined; // all Services are cached
    const live = await this.client.getOrUndefined(rt, namespace, name);
    if (live) delete live.metadata.managedFields;
    return live;
  }

  private async setControllerVersion(gw: Gateway): Promise<void> {
    // Istio writes the annotation by server-side apply with a field manager of its own.
    await this.client.apply(
      R.gateway,
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: gw.metadata.name, namespace: gw.metadata.namespace, annotations: { [A.controllerVersion]: String(CONTROLLER_VERSION) } } },
      { fieldManager: `${FIELD_MANAGER}/version`, force: true },
    );
  }

  /** Deletes managed objects left by a Gateway that no longer exists (ownerReference GC does the same). */
  private async cleanupOrphans(namespace: string, name: string): Promise<void> {
    const mine = (o: KubeObject) =>
      o.metadata.namespace === namespace &&
      o.metadata.labels?.[L.gatewayName] === name &&
      isManagedObject(o) &&
      (o.metadata.ownerReferences ?? []).some((r) => r.kind === 'Gateway' && r.name === name);
    const targets: Array<[ResourceType, KubeObject]> = [
      ...this.deployments.list(mine).map((o) => [R.deployment, o] as [ResourceType, KubeObject]),
      ...this.services.list(mine).map((o) => [R.service, o] as [ResourceType, KubeObject]),
      ...this.serviceAccounts.list(mine).map((o) => [R.serviceAccount, o] as [ResourceType, KubeObject]),
    ];
    for (const [rt, o] of targets) {
      if (o.metadata.deletionTimestamp) continue;
      try {
        if (await this.client.delete(rt, namespace, o.metadata.name!, { uid: o.metadata.uid })) this.log.info('deleted orphan', { kind: rt.kind, name: `${namespace}/${o.metadata.name}` });
      } catch (err) {
        if (!(err instanceof KubeError && err.conflict)) throw err; // uid precondition: a new object took the name
      }
    }
  }

  // ---- Services: istio.io/WaypointBound -----------------------------------------------------------------------

  private async reconcileService(key: string): Promise<void> {
    const svc = this.services.get(key);
    if (!svc || svc.metadata.deletionTimestamp) return;
    const desired = waypointBoundCondition(this.resolveContext(), svc);
    const current = svc.status?.conditions?.find((c) => c.type === WAYPOINT_BOUND);
    if (!desired && !current) return;
    let next: Condition[];
    if (desired) {
      const keepTime = current && current.status === desired.status && current.lastTransitionTime;
      const c = { ...desired, lastTransitionTime: keepTime ? current.lastTransitionTime : kubeTime() };
      if (current && sameIgnoringTransitionTimes(current, c)) return;
      next = [c];
    } else {
      next = [];
    }
    // Server-side apply on services/status: this field manager owns only its own condition entry
    // (conditions is a map list keyed by type); applying none removes it.
    await applyStatus(this.client, R.service, svc, { conditions: next }, `${FIELD_MANAGER}/waypoint-bound`);
    this.m.statusWrites.inc({ kind: 'Service' });
    this.log.info('service waypoint binding', { service: key, status: desired?.status ?? 'removed', reason: desired?.reason });
  }
}

/** What we keep of a Deployment in the cache. */
function slimDeployment(o: KubeObject): KubeObject {
  delete o.metadata.managedFields;
  return o;
}

function pickStatus(s: Gateway['status']): unknown {
  if (!s) return {};
  const out: Record<string, unknown> = { conditions: s.conditions, listeners: s.listeners };
  if (s.addresses?.length) out.addresses = s.addresses;
  return out;
}

/** Whether the live object differs from the rendered one in any field the render sets. */
export function needsApply(live: KubeObject, desired: KubeObject): boolean {
  // List responses carry no apiVersion/kind on items; compare metadata and the rest.
  const { apiVersion: _a, kind: _k, ...want } = desired;
  return !contains(live, want);
}

function contains(live: unknown, want: unknown): boolean {
  if (Array.isArray(want)) {
    if (!Array.isArray(live) || live.length !== want.length) return false;
    return want.every((w, i) => contains(live[i], w));
  }
  if (want && typeof want === 'object') {
    if (live === undefined && Object.keys(want).length === 0) return true; // the API server drops empty maps
    if (!live || typeof live !== 'object') return false;
    return Object.entries(want).every(([k, v]) => contains((live as Record<string, unknown>)[k], v));
  }
  // Kubernetes normalises some values (e.g. ports as numbers or strings); compare as strings.
  return String(live) === String(want);
}
