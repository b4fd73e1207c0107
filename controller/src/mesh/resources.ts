// Which L7 objects belong to a waypoint (istiod's policyattachment.go and route parent resolution):
// policies by targetRef(s), routes by parentRefs, VirtualServices/DestinationRules by host, ReferenceGrants by the
// cross-namespace backendRefs of those routes.

import type { KubeObject as WireObject } from '@ambit/mesh-api';
import { serviceHost } from '../gateway/names.js';
import type { KubeObject } from '../kube/resources.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The mesh administrator's WaypointPlugin allow-list (a ConfigMap of the root namespace), sent to every waypoint. */
export const PLUGIN_POLICY_CONFIGMAP = 'ambit-plugin-policy';

export interface WaypointScope {
  namespace: string;
  name: string;
  gatewayClassName: string;
  /** `ns/name` of the Services bound to it. */
  services: Set<string>;
  /** FQDNs of the Services bound to it. */
  hostnames: Set<string>;
}

interface TargetRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

const specOf = (o: KubeObject): Record<string, unknown> => ((o as { spec?: unknown }).spec ?? {}) as Record<string, unknown>;
/**
 * The objects of a list field. A malformed object (a field of another type than its CRD declares) must not stop the
 * model build for every waypoint: it is sent on, and the waypoint refuses it alone (and says why).
 */
const objects = <T>(v: unknown): T[] => (Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null && !Array.isArray(x)) as T[]) : []);

export function targetRefsOf(o: KubeObject): TargetRef[] {
  const spec = specOf(o);
  const many = Array.isArray(spec.targetRefs) ? (spec.targetRefs as TargetRef[]) : [];
  return spec.targetRef ? [...many, spec.targetRef as TargetRef] : many;
}

/** A policy-attachment object (AuthorizationPolicy, WaypointPlugin, ...) applies to this waypoint. */
export function targetsWaypoint(o: KubeObject, w: WaypointScope, rootNamespace: string): boolean {
  const ns = o.metadata.namespace ?? '';
  for (const r of targetRefsOf(o)) {
    if ((r.namespace ?? ns) !== ns) continue; // cross-namespace targetRefs are not allowed
    const group = r.group ?? '';
    if (r.kind === 'Gateway' && group === GATEWAY_API_GROUP && ns === w.namespace && r.name === w.name) return true;
    if (r.kind === 'Service' && (group === '' || group === 'core') && w.services.has(`${ns}/${r.name}`)) return true;
    if (r.kind === 'GatewayClass' && group === GATEWAY_API_GROUP && ns === rootNamespace && r.name === w.gatewayClassName) return true;
  }
  return false;
}

/** An HTTPRoute/GRPCRoute whose parentRefs name this waypoint's Gateway or a Service bound to it. */
export function routeAttaches(route: KubeObject, w: WaypointScope): boolean {
  const ns = route.metadata.namespace ?? '';
  for (const p of objects<TargetRef>(specOf(route).parentRefs)) {
    const group = p.group ?? GATEWAY_API_GROUP;
    const kind = p.kind ?? 'Gateway';
    const pns = p.namespace ?? ns;
    if (kind === 'Gateway' && group === GATEWAY_API_GROUP && pns === w.namespace && p.name === w.name) return true;
    if (kind === 'Service' && (group === '' || group === 'core') && w.services.has(`${pns}/${p.name}`)) return true;
  }
  return false;
}

/** Istio's short-host resolution: `reviews` in ns `default` -> `reviews.default.svc.cluster.local`. */
export function resolveHost(host: string, namespace: string, domain: string): string {
  if (!host.includes('.')) return `${host}.${namespace}.svc.${domain}`;
  const parts = host.split('.');
  if (parts.length === 2) return `${host}.svc.${domain}`;
  if (host.endsWith('.svc')) return `${host}.${domain}`;
  return host;
}

export function virtualServiceHosts(vs: KubeObject, domain: string): string[] {
  const ns = vs.metadata.namespace ?? '';
  const hosts: unknown = specOf(vs).hosts;
  return (Array.isArray(hosts) ? (hosts as unknown[]) : []).filter((h): h is string => typeof h === 'string' && h !== '*').map((h) => resolveHost(h, ns, domain));
}

/** Destination hosts a VirtualService routes to (so their DestinationRules come along). */
export function virtualServiceDestinations(vs: KubeObject, domain: string): string[] {
  const ns = vs.metadata.namespace ?? '';
  const out: string[] = [];
  for (const section of ['http', 'tcp', 'tls'] as const) {
    for (const route of objects<{ route?: unknown; mirror?: { host?: unknown } }>(specOf(vs)[section])) {
      for (const r of objects<{ destination?: { host?: unknown } }>(route.route)) if (typeof r.destination?.host === 'string') out.push(resolveHost(r.destination.host, ns, domain));
      if (typeof route.mirror?.host === 'string') out.push(resolveHost(route.mirror.host, ns, domain));
    }
  }
  return out;
}

/** Hostnames of the Services an HTTPRoute sends to (backendRefs of kind Service). */
export function routeBackendHosts(route: KubeObject, domain: string): string[] {
  const ns = route.metadata.namespace ?? '';
  const out: string[] = [];
  for (const rule of objects<{ backendRefs?: unknown }>(specOf(route).rules)) {
    for (const b of objects<TargetRef>(rule.backendRefs)) {
      if ((b.kind ?? 'Service') === 'Service' && (b.group ?? '') === '' && b.name) out.push(serviceHost(b.name, b.namespace ?? ns, domain));
    }
  }
  return out;
}

/** A cross-namespace backendRef of a route: what a ReferenceGrant in `toNamespace` has to allow. */
export interface CrossNamespaceRef {
  fromKind: string;
  fromNamespace: string;
  toNamespace: string;
  /** The Service's name. */
  name: string;
}

/** backendRefs of kind Service that point out of the route's namespace. */
export function crossNamespaceBackendRefs(route: KubeObject): CrossNamespaceRef[] {
  const ns = route.metadata.namespace ?? '';
  const out: CrossNamespaceRef[] = [];
  for (const rule of objects<{ backendRefs?: unknown }>(specOf(route).rules)) {
    for (const b of objects<TargetRef>(rule.backendRefs)) {
      if ((b.kind ?? 'Service') !== 'Service' || ((b.group ?? '') !== '' && b.group !== 'core') || !b.name) continue;
      if (b.namespace && b.namespace !== ns) out.push({ fromKind: route.kind ?? 'HTTPRoute', fromNamespace: ns, toNamespace: b.namespace, name: b.name });
    }
  }
  return out;
}

interface ReferenceGrantSpec {
  from?: Array<{ group?: string; kind?: string; namespace?: string }>;
  to?: Array<{ group?: string; kind?: string; name?: string }>;
}

/** Does ReferenceGrant `g` allow `ref` (it lives in the referent's namespace, names the route's kind and namespace, and the Service)? */
export function referenceGrantAllows(g: KubeObject, ref: CrossNamespaceRef): boolean {
  if (g.metadata.namespace !== ref.toNamespace) return false;
  const spec = specOf(g) as ReferenceGrantSpec;
  return (
    (spec.from ?? []).some((f) => f.group === GATEWAY_API_GROUP && f.kind === ref.fromKind && f.namespace === ref.fromNamespace) &&
    (spec.to ?? []).some((t) => (t.group ?? '') === '' && t.kind === 'Service' && (!t.name || t.name === ref.name))
  );
}

export function destinationRuleHost(dr: KubeObject, domain: string): string | undefined {
  const h = specOf(dr).host;
  return typeof h === 'string' ? resolveHost(h, dr.metadata.namespace ?? '', domain) : undefined;
}

/**
 * The object as sent to a waypoint: as stored, minus bookkeeping nobody reads (managedFields, resourceVersion) and
 * status, so a status write (which changes only those) pushes nothing.
 */
export function wireObject(o: KubeObject): WireObject {
  const { managedFields: _m, resourceVersion: _rv, ...metadata } = o.metadata;
  const out: Record<string, unknown> = { ...o, metadata };
  delete out.status;
  return out as unknown as WireObject;
}

export interface WaypointResourceInput {
  authorizationPolicies: KubeObject[];
  httpRoutes: KubeObject[];
  grpcRoutes: KubeObject[];
  virtualServices: KubeObject[];
  destinationRules: KubeObject[];
  waypointPlugins: KubeObject[];
  pluginPolicies?: KubeObject[];
  referenceGrants?: KubeObject[];
}

const order = (a: WireObject, b: WireObject): number => {
  const ka = `${a.kind}/${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.kind}/${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** Every object bound to waypoint `w`, sorted by kind, namespace, name. */
export function waypointResources(w: WaypointScope, input: WaypointResourceInput, opts: { rootNamespace: string; domain: string }): WireObject[] {
  const out: KubeObject[] = [];
  for (const p of input.authorizationPolicies) if (targetsWaypoint(p, w, opts.rootNamespace)) out.push(p);
  for (const p of input.waypointPlugins) {
    const refs = targetRefsOf(p);
    const ns = p.metadata.namespace;
    if (refs.length ? targetsWaypoint(p, w, opts.rootNamespace) : ns === w.namespace || ns === opts.rootNamespace) out.push(p);
  }
  const hosts = new Set(w.hostnames);
  const crossRefs: CrossNamespaceRef[] = [];
  for (const r of [...input.httpRoutes, ...input.grpcRoutes]) {
    if (!routeAttaches(r, w)) continue;
    out.push(r);
    for (const h of routeBackendHosts(r, opts.domain)) hosts.add(h);
    crossRefs.push(...crossNamespaceBackendRefs(r));
  }
  // The ReferenceGrants that allow a cross-namespace backendRef of those routes (the routing plugin checks them
  // for routes on the waypoint Gateway; mesh routes need none).
  for (const g of input.referenceGrants ?? []) if (crossRefs.some((ref) => referenceGrantAllows(g, ref))) out.push(g);
  for (const vs of input.virtualServices) {
    if (!virtualServiceHosts(vs, opts.domain).some((h) => w.hostnames.has(h))) continue;
    out.push(vs);
    for (const h of virtualServiceDestinations(vs, opts.domain)) hosts.add(h);
  }
  for (const dr of input.destinationRules) {
    const h = destinationRuleHost(dr, opts.domain);
    if (h && hosts.has(h)) out.push(dr);
  }
  // Every waypoint gets the allow-list (its `data` only: the waypoint reads `packages` and `sources`).
  for (const cm of input.pluginPolicies ?? []) {
    if (cm.metadata.namespace === opts.rootNamespace && cm.metadata.name === PLUGIN_POLICY_CONFIGMAP) out.push(cm);
  }
  return out.map(wireObject).sort(order);
}
