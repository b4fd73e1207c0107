// The router plugin (UNSPECIFIED_PHASE, highest priority: the first of that phase, so later custom plugins see
// and may change its choice). For the destination service it applies, in this order of precedence:
//   0. for a gRPC request, GRPCRoutes chosen the same way as HTTPRoutes in 1. (./grpcroute); when none of their rules
//      matches, the request goes on to 1.-3. (so with no HTTPRoute either, to the Service's default routing);
//   1. HTTPRoutes whose parentRef is that Service (GAMMA) on the requested port: the consumer routes of the
//      client's namespace (from its peer identity), else the producer routes (the Service's namespace); then
//      HTTPRoutes whose parentRef is this waypoint;
//   2. else VirtualServices whose hosts include the service;
//   3. else the default route: the destination service itself (or, for a pod address, that address).
// A route that cannot be compiled (a field of the wrong type, an invalid regular expression) is left out alone: the
// others compile as if it did not exist, and its Services get their other routes or default routing. Each table
// build (a new config version) logs one warning per such route, naming the object, the field and the reason.
// On an ingress listener only the routes the controller accepted on it apply (see ingressRules): for a gRPC request
// its GRPCRoutes first, then its HTTPRoutes and VirtualServices, as 0.-2. above; never the default route.
// Routes exist but none matches -> 404 (Envoy `NR`). The backend service's endpoint is chosen here, through the
// mesh state, with DestinationRule subsets (workload labels) and load balancer (default LEAST_REQUEST).

import {
  CLOCK,
  inject,
  injectable,
  LOGGER,
  MESH_STATE,
  RESOURCES,
  WAYPOINT,
  workloadLabels,
  type Backend,
  type Clock,
  type Endpoint,
  type IngressInfo,
  type K8sObject,
  type Logger,
  type MeshStateReader,
  type Plugin,
  type RequestContext,
  type ResourceReader,
  type Route,
  type WaypointIdentity,
} from '@ambit/plugin-sdk';
import { compileGRPCRoutes, isGrpcRequest, type GRPCRouteSpec } from './grpcroute.js';
import { resourceKey } from '@ambit/mesh-api/model';
import { checkVirtualServiceSpec, RouteShapeError } from '@ambit/mesh-api/routes';
import { CompileCache } from './compile-cache.js';
import { compileHTTPRoutes, objectName, serviceRules, type CompiledHTTPRoutes, type HTTPRouteSpec, type RankedRule, type RefusedRoute } from './httproute.js';
import { LoadBalancer, type LbPolicy } from './lb.js';
import { applyRequestOps, applyResponseOps, type MatchResult, type RouteEntry } from './types.js';
import {
  compileVirtualServiceRoute,
  expandHost,
  hostMatches,
  mergeOps,
  type Destination,
  type DestinationRuleSpec,
  type VirtualServiceSpec,
} from './virtualservice.js';
import { mostSpecificSni } from './sni.js';
import { pickWeighted } from './weights.js';

const GW = 'gateway.networking.k8s.io';
const NET = 'networking.istio.io';
/** The kinds the route table is compiled from: a change to any other kind keeps it. */
const TABLE_KINDS = ['HTTPRoute', 'GRPCRoute', 'VirtualService', 'DestinationRule', 'TLSRoute', 'ReferenceGrant'] as const;
const LB_STATE = Symbol('ambit.routing.lb');

/** Istio's default retry policy for HTTP routes (only failures that never reached the application). */
export const DEFAULT_RETRIES: Route['retries'] = { attempts: 2, retryOn: ['connect-failure', 'refused-stream'] };

interface Table {
  http: CompiledHTTPRoutes;
  grpc: CompiledHTTPRoutes;
  /** VirtualServices in creation order: host patterns -> rules. */
  vs: Array<{ hosts: string[]; rules: RouteEntry[] }>;
  /** host FQDN -> DestinationRule spec (first by creation time wins). */
  dr: Map<string, { spec: DestinationRuleSpec; ns: string }>;
  /** A VirtualService destination as a backend (host expanded in the VirtualService's namespace, DR subsets). */
  backend: (d: Destination, vsNs: string) => Backend | undefined;
  /** Ingress listeners' rules, compiled on first use after each table build (the runtime does it on apply). */
  ingress: Map<string, IngressRules>;
  /** TLS passthrough listeners' routes (TLSRoute, VirtualService `tls`), likewise. */
  passthrough: Map<string, PassthroughRoute[]>;
}

/** An ingress listener's rules: for any request (`http`), and for a gRPC request (`grpc`: its GRPCRoutes' first). */
export interface IngressRules {
  http: RouteEntry[];
  grpc: RouteEntry[];
}

/** A TLS passthrough route: the SNI patterns it takes (none: any) and its weighted backends. */
interface PassthroughRoute {
  name: string;
  hosts: string[];
  backends: Array<{ backend?: Backend; weight: number }>;
}

interface TLSRouteSpec {
  hostnames?: string[];
  rules?: Array<{ backendRefs?: Array<{ group?: string; kind?: string; name: string; namespace?: string; port?: number; weight?: number }> }>;
}

interface VirtualServiceTls {
  tls?: Array<{ match?: Array<{ sniHosts?: string[]; port?: number }>; route?: Array<{ destination: Destination; weight?: number }> }>;
}

export interface RoutingOptions {
  domain?: string;
  random?: () => number;
}

@injectable()
export class RoutingPlugin implements Plugin {
  readonly name = 'istio.routing';
  readonly phase = 'UNSPECIFIED_PHASE' as const;
  readonly priority = 1_000_000;
  readonly lb: LoadBalancer;
  /** resources.version and servicesVersion when the table was last checked, and the kinds' version it was compiled at. */
  #checked = { resources: -1, services: -1, kinds: -1 };
  /** HTTPRoutes and VirtualServices compiled by object: a table build after a one-route delta compiles that route alone. */
  readonly #httpRoutes = new CompileCache<RankedRule[]>();
  readonly #virtualServices = new CompileCache<{ hosts: string[]; rules: RouteEntry[] } | null>();
  #table!: Table;
  domain = 'cluster.local';
  random: () => number = Math.random;

  constructor(
    @inject(RESOURCES) private readonly resources: ResourceReader,
    @inject(MESH_STATE) private readonly mesh: MeshStateReader,
    @inject(WAYPOINT) private readonly waypoint: WaypointIdentity,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(CLOCK) private readonly clock: Clock,
  ) {
    this.lb = new LoadBalancer(() => this.random());
  }

  /** A new config: compile the table now rather than on the next request. */
  onConfig(): void {
    this.table();
  }

  table(): Table {
    // The table reads Services (by name, by hostname) but never workloads: endpoints are chosen per request, so a
    // workload-only change keeps it, and so does a change to kinds it does not read (AuthorizationPolicies).
    const c = this.#checked;
    const services = this.mesh.servicesVersion;
    if (c.resources !== this.resources.version || c.services !== services) {
      c.resources = this.resources.version;
      const kinds = this.resources.versionOf(TABLE_KINDS);
      if (kinds !== c.kinds || c.services !== services) {
        // Marked before compiling: a table that fails to compile leaves the last good one serving (as Envoy keeps
        // its last accepted config); onConfig's caller logs the failure.
        c.kinds = kinds;
        c.services = services;
        this.#table = this.#compile();
      }
    }
    return this.#table;
  }

  #compile(): Table {
    const grantedTo = (kind: string) => this.#granted(kind);
    // A compiled HTTPRoute also reads Services, ReferenceGrants and the domain: a change to any of them compiles all.
    const routeCache = this.#httpRoutes.at(`${this.mesh.servicesVersion}/${this.resources.versionOf(['ReferenceGrant'])}/${this.domain}`);
    const http = compileHTTPRoutes(this.resources.list<HTTPRouteSpec>('HTTPRoute', GW), this.waypoint, { mesh: this.mesh, granted: grantedTo('HTTPRoute'), domain: this.domain }, 'HTTPRoute', routeCache);
    const grpc = compileGRPCRoutes(this.resources.list<GRPCRouteSpec>('GRPCRoute', GW), this.waypoint, { mesh: this.mesh, granted: grantedTo('GRPCRoute'), domain: this.domain });
    const dr = new Map<string, { spec: DestinationRuleSpec; ns: string }>();
    for (const o of this.resources.list<DestinationRuleSpec>('DestinationRule', NET)) {
      if (!o.spec?.host) continue;
      const ns = o.metadata.namespace ?? 'default';
      const host = expandHost(o.spec.host, ns, this.domain);
      if (!dr.has(host)) dr.set(host, { spec: o.spec, ns });
    }
    const backend = (d: Destination, vsNs: string): Backend | undefined => {
      const host = expandHost(d.host, vsNs, this.domain);
      const svc = this.mesh.serviceByHostname(host);
      if (!svc) return undefined;
      const ports = Object.keys(svc.ports).map(Number);
      const port = d.port?.number ?? (ports.length === 1 ? ports[0] : undefined);
      const b: Backend = { service: { hostname: svc.hostname, namespace: svc.namespace, name: svc.name, port: port ?? 0 } };
      if (d.subset) {
        const sub = dr.get(host)?.spec.subsets?.find((s) => s.name === d.subset);
        // An unknown subset has no endpoints (Envoy: no healthy upstream).
        b.subset = sub?.labels ?? { 'ambit.dev/unknown-subset': d.subset };
      }
      return b;
    };
    const vs: Table['vs'] = [];
    const refused: RefusedRoute[] = [...http.refused, ...grpc.refused];
    // A compiled VirtualService also reads Services, DestinationRules (subsets) and the domain.
    const vsCache = this.#virtualServices.at(`${this.mesh.servicesVersion}/${this.resources.versionOf(['DestinationRule'])}/${this.domain}`);
    const labelsOf = (ctx: RequestContext) => (ctx.source.workload ? workloadLabels(ctx.source.workload) : {});
    for (const o of this.resources.list<VirtualServiceSpec>('VirtualService', NET)) {
      const compiled = vsCache.get(o, () => {
        checkVirtualServiceSpec(o.spec);
        const spec = o.spec ?? {};
        // Bound only to gateways, not to the mesh: not a waypoint's.
        if (spec.gateways?.length && !spec.gateways.includes('mesh')) return null;
        const ns = o.metadata.namespace ?? 'default';
        const hosts = (spec.hosts ?? []).map((h) => expandHost(h, ns, this.domain));
        const rules = (spec.http ?? []).map((r, i) => compileVirtualServiceRoute(o as K8sObject<VirtualServiceSpec>, r, { domain: this.domain, backend, labelsOf }, i));
        return { hosts, rules };
      });
      if (compiled instanceof Error) refused.push({ object: objectName('VirtualService', o), error: compiled });
      else if (compiled) vs.push(compiled);
    }
    for (const r of refused) this.#logRefused(r);
    return { http, grpc, vs, dr, backend, ingress: new Map(), passthrough: new Map() };
  }

  /**
   * The rules of an ingress listener, in the order they are tried. `http`: its HTTPRoutes' rules by the Gateway
   * API's precedence (the route's hostnames must match the Host), then its VirtualServices' `http` rules, each
   * VirtualService's only for a Host its `hosts` match, in creation order. `grpc`, for a gRPC request: its
   * GRPCRoutes' rules by the same precedence (hostnames likewise), then the `http` rules, as on a waypoint. Only
   * the routes the controller accepted on the listener (`routes`) count. Compiled once per listener and config.
   */
  ingressRules(info: Pick<IngressInfo, 'listener' | 'routes'>): IngressRules {
    const t = this.table();
    const key = `${info.listener}\n${info.routes.join('\n')}`;
    let rules = t.ingress.get(key);
    if (!rules) {
      rules = this.#compileIngress(t, new Set(info.routes));
      t.ingress.set(key, rules);
    }
    return rules;
  }

  /**
   * TLS passthrough: the backend for a connection with server name `sni` on an ingress listener, from its
   * TLSRoutes (hostnames against the SNI; none: any) and its VirtualServices' `tls` rules (`sniHosts`), the most
   * specific match (exact, longest wildcard, any), the first in that order among equals; the endpoint already
   * chosen. Undefined: no route takes it (the connection is closed).
   */
  passthroughBackend(info: Pick<IngressInfo, 'listener' | 'routes' | 'port'>, sni: string): { route: string; backend: Backend } | undefined {
    const t = this.table();
    const key = `${info.listener}\n${info.routes.join('\n')}`;
    let routes = t.passthrough.get(key);
    if (!routes) {
      routes = this.#compilePassthrough(t, new Set(info.routes), info.port);
      t.passthrough.set(key, routes);
    }
    const name = sni.toLowerCase();
    const r = mostSpecificSni(routes, name);
    const chosen = r && pickWeighted(r.backends, (b) => b.weight, this.random);
    if (!r || !chosen?.backend) return undefined;
    const backend: Backend = { ...chosen.backend };
    const s = backend.service!;
    const view = this.mesh.serviceByHostname(s.hostname);
    const eps = view ? this.mesh.endpoints(view, s.port) : [];
    const ordered = this.lb.pick(`${s.hostname}:${s.port}:`, eps, this.lbPolicy(s.hostname, undefined));
    backend.endpoint = ordered[0];
    backend.alternatives = ordered.slice(1, 3);
    return { route: r.name, backend };
  }

  #compilePassthrough(t: Table, accepted: Set<string>, port: number): PassthroughRoute[] {
    const out: PassthroughRoute[] = [];
    for (const o of this.resources.list<TLSRouteSpec>('TLSRoute', GW)) {
      if (!accepted.has(resourceKey(o))) continue;
      const ns = o.metadata.namespace ?? 'default';
      const backends: PassthroughRoute['backends'] = [];
      for (const rule of o.spec?.rules ?? []) {
        for (const ref of rule.backendRefs ?? []) {
          const refNs = ref.namespace ?? ns;
          const svc = (ref.kind ?? 'Service') === 'Service' && !ref.group ? this.mesh.serviceByName(refNs, ref.name) : undefined;
          const ok = svc && ref.port !== undefined && (refNs === ns || this.#granted('TLSRoute')(ns, refNs, ref.name));
          backends.push({ backend: ok ? { service: { hostname: svc.hostname, namespace: refNs, name: svc.name, port: ref.port! } } : undefined, weight: ref.weight ?? 1 });
        }
      }
      out.push({ name: `TLSRoute/${ns}/${o.metadata.name}`, hosts: (o.spec?.hostnames ?? []).map((h) => h.toLowerCase()), backends });
    }
    for (const o of this.resources.list<VirtualServiceTls>('VirtualService', NET)) {
      if (!accepted.has(resourceKey(o))) continue;
      const ns = o.metadata.namespace ?? 'default';
      (o.spec?.tls ?? []).forEach((rule, i) => {
        const matches = (rule.match ?? []).filter((m) => m.port === undefined || m.port === port);
        if (rule.match?.length && matches.length === 0) return;
        const route = rule.route ?? [];
        out.push({
          name: `VirtualService/${ns}/${o.metadata.name}/tls/${i}`,
          hosts: matches.flatMap((m) => m.sniHosts ?? []).map((h) => h.toLowerCase()),
          backends: route.map((d) => ({ backend: t.backend(d.destination, ns), weight: route.length === 1 ? 1 : d.weight ?? 0 })),
        });
      });
    }
    return out;
  }

  #granted(kind: string): (fromNs: string, toNs: string, name: string) => boolean {
    const grants = this.resources.list<{ from?: Array<{ group?: string; kind?: string; namespace?: string }>; to?: Array<{ group?: string; kind?: string; name?: string }> }>('ReferenceGrant', GW);
    return (fromNs, toNs, name) =>
      grants.some(
        (g) =>
          (g.metadata.namespace ?? 'default') === toNs &&
          (g.spec?.from ?? []).some((f) => f.group === GW && f.kind === kind && f.namespace === fromNs) &&
          (g.spec?.to ?? []).some((to) => (to.group ?? '') === '' && to.kind === 'Service' && (!to.name || to.name === name)),
      );
  }

  #compileIngress(t: Table, accepted: Set<string>): IngressRules {
    const routes = this.resources.list<HTTPRouteSpec>('HTTPRoute', GW).filter((o) => accepted.has(resourceKey(o)));
    const onListener = () => [{ kind: 'gateway' as const }];
    const http = compileHTTPRoutes(routes, this.waypoint, { mesh: this.mesh, granted: this.#granted('HTTPRoute'), domain: this.domain, parentsOf: onListener });
    const grpcRoutes = this.resources.list<GRPCRouteSpec>('GRPCRoute', GW).filter((o) => accepted.has(resourceKey(o)));
    const grpc = compileGRPCRoutes(grpcRoutes, this.waypoint, { mesh: this.mesh, granted: this.#granted('GRPCRoute'), domain: this.domain, parentsOf: onListener });
    const out = [...http.gateway];
    const refused = [...http.refused, ...grpc.refused];
    for (const o of this.resources.list<VirtualServiceSpec>('VirtualService', NET)) {
      if (!accepted.has(resourceKey(o))) continue;
      try {
        checkVirtualServiceSpec(o.spec);
        const ns = o.metadata.namespace ?? 'default';
        const hosts = (o.spec?.hosts ?? []).map((h) => expandHost(h, ns, this.domain));
        const forHost = (ctx: RequestContext) => hosts.some((h) => hostMatches(h, hostOf(ctx.request.authority)));
        (o.spec?.http ?? []).forEach((r, i) => {
          const e = compileVirtualServiceRoute(o as K8sObject<VirtualServiceSpec>, r, { domain: this.domain, backend: t.backend, labelsOf: () => ({}) }, i);
          out.push({ ...e, match: (ctx) => (forHost(ctx) ? e.match(ctx) : undefined) });
        });
      } catch (err) {
        refused.push({ object: objectName('VirtualService', o), error: err instanceof Error ? err : new Error(String(err)) });
      }
    }
    for (const r of refused) this.#logRefused(r);
    return { http: out, grpc: [...grpc.gateway, ...out] };
  }

  /** One warning per refused route and table build: `route refused  object="HTTPRoute ns/name" field="spec..." reason="..."`. */
  #logRefused(r: RefusedRoute): void {
    const e = r.error;
    if (e instanceof RouteShapeError) this.logger.warn('route refused', { object: r.object, field: e.field, reason: e.reason });
    else this.logger.warn('route refused', { object: r.object, reason: e.message });
  }

  /** GRPCRoute rules for a gRPC request to this destination (Service parents first, then the waypoint's). */
  grpcRulesFor(ctx: RequestContext): RouteEntry[] {
    if (!isGrpcRequest(ctx)) return [];
    const t = this.table();
    const s = ctx.destination.service;
    const svcRules = s ? serviceRules(t.grpc, s, s.port, clientNamespace(ctx)) : [];
    return svcRules.length ? svcRules : t.grpc.gateway;
  }

  /** Routes that apply to this request's destination, or undefined (default route). */
  rulesFor(ctx: RequestContext): RouteEntry[] | undefined {
    const t = this.table();
    const s = ctx.destination.service;
    if (s) {
      const svcRules = serviceRules(t.http, s, s.port, clientNamespace(ctx));
      if (svcRules.length) return svcRules;
    }
    if (t.http.gateway.length) return t.http.gateway;
    if (s) {
      const rules: RouteEntry[] = [];
      for (const v of t.vs) if (v.hosts.some((h) => hostMatches(h, s.hostname))) rules.push(...v.rules);
      if (rules.length) return rules;
    }
    return undefined;
  }

  async onRequest(ctx: RequestContext): Promise<void> {
    if (ctx.route) return; // an earlier plugin chose
    // An ingress listener: its own routes only, never the mesh's nor a default route.
    if (ctx.ingress) {
      const rules = this.ingressRules(ctx.ingress);
      return this.#route(ctx, isGrpcRequest(ctx) ? rules.grpc : rules.http);
    }
    for (const entry of this.grpcRulesFor(ctx)) {
      const m = entry.match(ctx);
      if (m) return this.#apply(ctx, entry, m);
    }
    const rules = this.rulesFor(ctx);
    if (!rules) {
      const s = ctx.destination.service;
      if (s) {
        const backend: Backend = { service: { hostname: s.hostname, namespace: s.namespace, name: s.name, port: s.port } };
        this.#choose(ctx, backend);
        ctx.route = { name: 'default', backend, retries: DEFAULT_RETRIES };
      }
      // pod-addressed traffic: the runtime forwards to the original destination
      return;
    }
    return this.#route(ctx, rules);
  }

  /** The first of `rules` that matches decides; none -> 404 (Envoy `NR`). */
  async #route(ctx: RequestContext, rules: RouteEntry[]): Promise<void> {
    for (const entry of rules) {
      const m = entry.match(ctx);
      if (m) return this.#apply(ctx, entry, m);
    }
    ctx.deny(404, '', {}, 'route');
    ctx.localReply!.flag = 'NR';
  }

  /**
   * Do what a matching rule says: CORS (a preflight is answered there), fault, header operations, then redirect,
   * direct response or a backend.
   */
  async #apply(ctx: RequestContext, entry: RouteEntry, m: MatchResult): Promise<void> {
    const a = entry.action;
    if (a.cors?.(ctx)) return;
    if (a.fault) {
      const f = a.fault;
      if (f.delayMs && this.random() * 100 < (f.delayPercent ?? 100)) await this.clock.sleep(f.delayMs);
      if (f.abortStatus && this.random() * 100 < (f.abortPercent ?? 100)) {
        ctx.deny(f.abortStatus, 'fault filter abort', {}, 'fault');
        ctx.localReply!.flag = 'FI';
        return;
      }
    }
    applyRequestOps(ctx, a.requestHeaders);
    applyResponseOps(ctx, a.responseHeaders);
    if (a.redirect) {
      const r = a.redirect(ctx, m);
      ctx.redirect(r.location, r.status);
      return;
    }
    if (a.directResponse) {
      ctx.deny(a.directResponse.status, a.directResponse.body, {}, 'direct_response');
      return;
    }
    const wb = pickWeighted(a.backends, (b) => b.weight, this.random);
    if (!wb || !wb.backend) {
      if (wb?.invalid) this.logger.debug('invalid backend', { route: entry.name, reason: wb.invalid });
      ctx.deny(a.emptyStatus ?? 500, '', {}, 'route');
      return;
    }
    applyRequestOps(ctx, wb.requestHeaders);
    applyResponseOps(ctx, wb.responseHeaders);
    const backend: Backend = { ...wb.backend };
    this.#choose(ctx, backend);
    ctx.route = {
      name: entry.name,
      backend,
      timeoutMs: a.timeoutMs,
      retries: a.retries ?? DEFAULT_RETRIES,
      mirrors: a.mirrors,
      rewrite: a.rewrite?.(ctx, m),
    };
  }

  onLog(ctx: RequestContext): void {
    const ep = ctx.state.get(LB_STATE) as Endpoint | undefined;
    if (ep) this.lb.end(ep);
  }

  /** The load balancer policy for a host/subset from DestinationRules (default LEAST_REQUEST). */
  lbPolicy(host: string, subset: Record<string, string> | undefined): LbPolicy | undefined {
    const dr = this.table().dr.get(host);
    if (!dr) return undefined;
    const sub = subset ? dr.spec.subsets?.find((s) => s.labels && Object.entries(s.labels).every(([k, v]) => subset[k] === v)) : undefined;
    return sub?.trafficPolicy?.loadBalancer?.simple ?? dr.spec.trafficPolicy?.loadBalancer?.simple;
  }

  #choose(ctx: RequestContext, backend: Backend): void {
    const s = backend.service;
    if (!s) return;
    const view = this.mesh.serviceByHostname(s.hostname);
    if (!view) return;
    let eps = this.mesh.endpoints(view, s.port);
    const subset = backend.subset;
    if (subset) {
      const want = Object.entries(subset);
      eps = eps.filter((e) => {
        const l = e.workload ? workloadLabels(e.workload) : {};
        return want.every(([k, v]) => l[k] === v);
      });
    }
    if (eps.length === 0) {
      backend.endpoint = undefined;
      backend.alternatives = [];
      return;
    }
    const ordered = this.lb.pick(`${s.hostname}:${s.port}:${subset ? JSON.stringify(subset) : ''}`, eps, this.lbPolicy(s.hostname, subset));
    backend.endpoint = ordered[0];
    backend.alternatives = ordered.slice(1, 3);
    this.lb.begin(ordered[0]!);
    ctx.state.set(LB_STATE, ordered[0]);
  }
}

/** The Host without its port. */
function hostOf(authority: string): string {
  const i = authority.lastIndexOf(':');
  return i > 0 && !authority.endsWith(']') ? authority.slice(0, i).toLowerCase() : authority.toLowerCase();
}

/**
 * The client's namespace for consumer routes: from its peer identity (SPIFFE `ns/<ns>`), else from the workload
 * its address belongs to (plain HTTP without mTLS).
 */
function clientNamespace(ctx: RequestContext): string | undefined {
  return ctx.source.namespace ?? ctx.source.workload?.namespace;
}

export { mergeOps };
