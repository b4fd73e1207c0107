// Keeps the mesh model current: informers on everything the builder reads, a short debounce, a rebuild, and the
// result handed to the push server. Istio's CRDs (security/networking.istio.io), GRPCRoute, TLSRoute, ReferenceGrant and
// WaypointPlugin are optional: watched once the API server serves them (checked again every 30 s).

import { KubeError, type KubeClient } from '../kube/client.js';
import type { Informer } from '../kube/informer.js';
import { InformerSet } from '../kube/informers.js';
import { R, apiVersionOf, type KubeObject, type ResourceType } from '../kube/resources.js';
import type { PartialLogger } from '@ambit/mesh-api';
import type { PodLookup } from '../ca/pods.js';
import { podFacts, kubePodLookup, type PodLike } from '../ca/pods.js';
import { buildMesh } from './build.js';
import type { MeshModel } from './model.js';
import { PLUGIN_POLICY_CONFIGMAP } from './resources.js';
import { MESH_CONFIGMAP } from './tracing.js';
import type { MeshInput, MeshOptions } from './input.js';

type Slot = keyof Omit<MeshInput, never>;

interface Watched {
  slot: Slot;
  /** Fixed resource type (core) or discovered (optional). */
  rt?: ResourceType;
  /** Watch only this object of the root namespace (a mesh-wide setting held in a ConfigMap). */
  rootObject?: string;
  /** Watch only the root namespace's objects. */
  rootNamespace?: boolean;
  /** Watch only the objects this field selector matches. */
  fieldSelector?: string;
  discover?: { group: string; plural: string; kind: string } | { crdKind: string };
}

const WATCHED: Watched[] = [
  { slot: 'pods', rt: R.pod },
  { slot: 'services', rt: R.service },
  { slot: 'endpointSlices', rt: R.endpointSlice },
  { slot: 'namespaces', rt: R.namespace },
  { slot: 'gateways', discover: { group: 'gateway.networking.k8s.io', plural: 'gateways', kind: 'Gateway' } },
  { slot: 'gatewayClasses', discover: { group: 'gateway.networking.k8s.io', plural: 'gatewayclasses', kind: 'GatewayClass' } },
  { slot: 'httpRoutes', discover: { group: 'gateway.networking.k8s.io', plural: 'httproutes', kind: 'HTTPRoute' } },
  // Which cross-namespace backendRefs of routes on waypoint Gateways are allowed (served as v1 and v1beta1).
  { slot: 'referenceGrants', discover: { group: 'gateway.networking.k8s.io', plural: 'referencegrants', kind: 'ReferenceGrant' } },
  { slot: 'grpcRoutes', discover: { group: 'gateway.networking.k8s.io', plural: 'grpcroutes', kind: 'GRPCRoute' } },
  // TLS passthrough routes of ingress Gateways (experimental channel: v1 from v1.5, v1alpha2 before).
  { slot: 'tlsRoutes', discover: { group: 'gateway.networking.k8s.io', plural: 'tlsroutes', kind: 'TLSRoute' } },
  { slot: 'authorizationPolicies', discover: { group: 'security.istio.io', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' } },
  { slot: 'peerAuthentications', discover: { group: 'security.istio.io', plural: 'peerauthentications', kind: 'PeerAuthentication' } },
  { slot: 'virtualServices', discover: { group: 'networking.istio.io', plural: 'virtualservices', kind: 'VirtualService' } },
  { slot: 'destinationRules', discover: { group: 'networking.istio.io', plural: 'destinationrules', kind: 'DestinationRule' } },
  { slot: 'waypointPlugins', discover: { crdKind: 'WaypointPlugin' } },
  // The installed istio-ingressgateway's servers (networking.istio.io Gateway: v1, v1beta1, v1alpha3 are one kind)
  // and their TLS credentials (Secrets of the system namespace, where the ingress runs).
  { slot: 'istioGateways', discover: { group: 'networking.istio.io', plural: 'gateways', kind: 'Gateway' } },
  { slot: 'systemSecrets', rt: R.secret, rootNamespace: true },
  // The administrator's WaypointPlugin allow-list, pushed to every waypoint (SECURITY.md, Plugins).
  { slot: 'pluginPolicies', rt: R.configMap, rootObject: PLUGIN_POLICY_CONFIGMAP },
  // Istio's mesh config (extensionProviders for tracing) and the Telemetries that choose a tracing provider.
  { slot: 'meshConfigs', rt: R.configMap, rootObject: MESH_CONFIGMAP },
  { slot: 'telemetries', discover: { group: 'telemetry.istio.io', plural: 'telemetries', kind: 'Telemetry' } },
  // Certificates of class `istio` Gateways' HTTPS listeners (only TLS Secrets are listed and kept).
  { slot: 'secrets', rt: R.secret, fieldSelector: 'type=kubernetes.io/tls' },
];

const DROP_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];

/** Keeps what the builder reads; sets apiVersion/kind (list items lack them). The process's shared informers use it. */
export function transformFor(rt: ResourceType): (o: KubeObject) => KubeObject {
  const apiVersion = apiVersionOf(rt);
  return (o) => {
    delete o.metadata.managedFields;
    if (o.metadata.annotations) for (const a of DROP_ANNOTATIONS) delete o.metadata.annotations[a];
    o.apiVersion = apiVersion;
    o.kind = rt.kind;
    if (rt.kind === 'Pod') {
      const spec = (o.spec ?? {}) as { serviceAccountName?: string; nodeName?: string; hostNetwork?: boolean; containers?: Array<{ name: string; ports?: unknown }> };
      const status = (o.status ?? {}) as { phase?: string; podIP?: string; podIPs?: unknown; conditions?: Array<{ type: string; status: string }> };
      o.spec = {
        serviceAccountName: spec.serviceAccountName,
        nodeName: spec.nodeName,
        hostNetwork: spec.hostNetwork,
        containers: (spec.containers ?? []).map((c) => ({ name: c.name, ports: c.ports })),
      };
      o.status = { phase: status.phase, podIP: status.podIP, podIPs: status.podIPs, conditions: (status.conditions ?? []).filter((c) => c.type === 'Ready') };
    }
    return o;
  };
}

export interface MeshWatcherOptions {
  client: KubeClient;
  /** Called with every new model (after the first full sync, then on changes). */
  onModel: (model: MeshModel, input: MeshInput) => void;
  mesh?: MeshOptions;
  /** Quiet time before a rebuild (default 20 ms), and the longest a change waits (default 200 ms). */
  debounceMs?: number;
  maxDelayMs?: number;
  log?: PartialLogger;
  /** The process's shared informers, made with `transform: transformFor` (its owner stops them); else its own. */
  informers?: InformerSet;
}

export class MeshWatcher {
  readonly #opts: MeshWatcherOptions;
  readonly #informers = new Map<Slot, Informer>();
  #timer: NodeJS.Timeout | undefined;
  #firstDirty = 0;
  #discoverTimer: NodeJS.Timeout | undefined;
  #running = false;
  #model: MeshModel | undefined;
  #builds = 0;
  #lastBuildMs = 0;

  readonly #set: InformerSet;
  readonly #ownSet: boolean;

  constructor(opts: MeshWatcherOptions) {
    this.#opts = opts;
    this.#ownSet = !opts.informers;
    this.#set = opts.informers ?? new InformerSet(opts.client, { transform: transformFor });
  }

  get model(): MeshModel | undefined {
    return this.#model;
  }

  get stats(): { builds: number; lastBuildMs: number; watching: string[] } {
    return { builds: this.#builds, lastBuildMs: this.#lastBuildMs, watching: [...this.#informers.keys()] };
  }

  async start(): Promise<void> {
    this.#running = true;
    await this.#discover();
    this.rebuild();
    const t = setInterval(() => void this.#discover().catch(() => {}), 30_000);
    t.unref();
    this.#discoverTimer = t;
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    clearInterval(this.#discoverTimer);
    if (this.#ownSet) await this.#set.stop();
  }

  /** Pods from the cache, falling back to the API server for pods not seen yet (a CA PodLookup). */
  podLookup(): PodLookup {
    const api = kubePodLookup(this.#opts.client);
    return {
      getPod: async (ns, name) => {
        const p = this.#informers.get('pods')?.get(`${ns}/${name}`);
        return p ? podFacts(p as PodLike) : api.getPod(ns, name);
      },
      podsOnNode: async (node, ns) => {
        const inf = this.#informers.get('pods');
        if (!inf?.hasSynced) return api.podsOnNode(node, ns);
        const found = inf.list((p) => p.metadata.namespace === ns && (p.spec as { nodeName?: string } | undefined)?.nodeName === node).map((p) => podFacts(p as PodLike));
        return found.length ? found.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed') : api.podsOnNode(node, ns);
      },
    };
  }

  /** Builds the model now from the caches and hands it on. */
  rebuild(): MeshModel {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#firstDirty = 0;
    const input: MeshInput = { pods: [], services: [], namespaces: [], gateways: [], gatewayClasses: [] };
    for (const [slot, inf] of this.#informers) (input as unknown as Record<string, KubeObject[]>)[slot] = inf.list();
    const t0 = performance.now();
    const model = buildMesh(input, this.#opts.mesh);
    this.#lastBuildMs = performance.now() - t0;
    this.#builds++;
    this.#model = model;
    this.#opts.log?.debug?.('mesh model built', {
      ms: Math.round(this.#lastBuildMs * 10) / 10,
      workloads: model.mesh.workloads?.length,
      services: model.mesh.services?.length,
      policies: model.mesh.policies?.length,
      waypoints: model.waypoints.size,
    });
    this.#logIngressWarnings(model);
    this.#opts.onModel(model, input);
    return model;
  }

  #ingressWarnings = new Set<string>();

  /**
   * Servers of networking.istio.io Gateways the ingress leaves out (missing credential...), and tracing config
   * that cannot apply (a Telemetry naming an unknown provider, a bad extensionProvider), each logged once.
   */
  #logIngressWarnings(model: MeshModel): void {
    const now = new Set<string>();
    for (const w of model.warnings) {
      const ingress = w.object.startsWith('Gateway.networking.istio.io ');
      const tracing = w.object.startsWith('Telemetry ') || w.object.startsWith(`ConfigMap `);
      if (!ingress && !tracing) continue;
      const line = `${w.object}: ${w.reason}: ${w.message}`;
      now.add(line);
      if (this.#ingressWarnings.has(line)) continue;
      if (ingress) this.#opts.log?.warn('ingress gateway server left out', { gateway: w.object.slice(w.object.indexOf(' ') + 1), reason: w.reason, message: w.message });
      else this.#opts.log?.warn('tracing config not applied', { object: w.object, reason: w.reason, message: w.message });
    }
    this.#ingressWarnings = now;
  }

  #changed = (): void => {
    if (!this.#running) return;
    const now = Date.now();
    if (!this.#firstDirty) this.#firstDirty = now;
    const quiet = this.#opts.debounceMs ?? 20;
    const max = this.#opts.maxDelayMs ?? 200;
    const wait = Math.max(0, Math.min(quiet, this.#firstDirty + max - now));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.rebuild(), wait);
  };

  async #discover(): Promise<void> {
    const fresh: Informer[] = [];
    let crds: Array<{ spec: { group: string; names: { kind: string; plural: string }; versions: Array<{ name: string; served: boolean; storage: boolean }> } }> | undefined;
    for (const w of WATCHED) {
      if (this.#informers.has(w.slot)) continue;
      let rt = w.rt;
      try {
        if (!rt && w.discover && 'group' in w.discover) rt = await this.#served(w.discover.group, w.discover.plural, w.discover.kind);
        if (!rt && w.discover && 'crdKind' in w.discover) {
          const crdKind = w.discover.crdKind;
          crds ??= (await this.#opts.client.request<{ items: NonNullable<typeof crds> }>({ path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions' })).items;
          const crd = crds.find((c) => c.spec.names.kind === crdKind);
          const v = crd?.spec.versions.find((x) => x.storage && x.served) ?? crd?.spec.versions.find((x) => x.served);
          if (crd && v) rt = { group: crd.spec.group, version: v.name, plural: crd.spec.names.plural, kind: crd.spec.names.kind, namespaced: true };
        }
      } catch (err) {
        this.#opts.log?.warn('resource discovery failed', { resource: w.slot, error: (err as Error).message });
        continue;
      }
      if (!rt) continue;
      const root = this.#opts.mesh?.rootNamespace ?? 'istio-system';
      const only = w.rootObject
        ? { namespace: root, fieldSelector: `metadata.name=${w.rootObject}` }
        : w.rootNamespace
          ? { namespace: root }
          : w.fieldSelector
            ? { fieldSelector: w.fieldSelector }
            : {};
      const inf = this.#set.informer(rt, only);
      // A resync replays an object as its own update: nothing changed for the model.
      inf.on({
        add: this.#changed,
        update: (o, n) => {
          if (o !== n) this.#changed();
        },
        delete: this.#changed,
      });
      this.#informers.set(w.slot, inf);
      fresh.push(inf);
      if (!w.rt) this.#opts.log?.info('watching for the mesh model', { resource: `${rt.plural}.${rt.group}/${rt.version}` });
    }
    await Promise.all(fresh.map((i) => i.start()));
    if (fresh.length && this.#model) this.#changed();
  }

  /** The preferred served version of `group` if it has `plural`. */
  async #served(group: string, plural: string, kind: string): Promise<ResourceType | undefined> {
    try {
      const g = await this.#opts.client.request<{ preferredVersion?: { version: string }; versions?: Array<{ version: string }> }>({ path: `/apis/${group}` });
      for (const version of [g.preferredVersion?.version, ...(g.versions ?? []).map((v) => v.version)]) {
        if (!version) continue;
        const list = await this.#opts.client.request<{ resources: Array<{ name: string }> }>({ path: `/apis/${group}/${version}` });
        if (list.resources.some((r) => r.name === plural)) return { group, version, plural, kind, namespaced: kind !== 'GatewayClass' };
      }
      return undefined;
    } catch (err) {
      if (err instanceof KubeError && err.notFound) return undefined;
      throw err;
    }
  }
}
