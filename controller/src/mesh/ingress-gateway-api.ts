// The config of each class `istio` (Gateway API ingress) gateway, beside the waypoints' (pure): its listeners with
// their certificates and accepted routes, the routes themselves, the ReferenceGrants their cross-namespace
// backendRefs rely on, the AuthorizationPolicies that target the Gateway, and the mesh it forwards into.
import { resourceKey, type KubeObject as WireObject, type WaypointConfig, type WaypointService, type WaypointWorkload } from '@ambit/mesh-api';
import { attachRoute } from '../gateway/ingress-attach.js';
import { resolveIngressListeners } from '../gateway/ingress-listeners.js';
import { controllerFor, GATEWAY_CONTROLLER } from '../gateway/constants.js';
import { ingressNames } from '../gateway/names.js';
import type { KubeObject } from '../kube/resources.js';
import type { MeshInput } from './input.js';
import { crossNamespaceBackendRefs, referenceGrantAllows, targetsWaypoint, wireObject } from './resources.js';

export interface IngressGatewayBuild {
  /** `ns/name` of the Gateway. */
  key: string;
  config: WaypointConfig;
  /** The ServiceAccount its pods run as, and the Gateway's uid. */
  identity: { serviceAccount: string; gatewayUid?: string };
}

export interface IngressBuildContext {
  workloads: WaypointWorkload[];
  services: WaypointService[];
  rootNamespace: string;
}

const order = (a: WireObject, b: WireObject): number => {
  const ka = resourceKey(a);
  const kb = resourceKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** Is `gw` of a class the gateway controller (`istio.io/gateway-controller`) deploys? */
export function isIngressGateway(gw: MeshInput['gateways'][number], input: Pick<MeshInput, 'gatewayClasses'>): boolean {
  const cls = input.gatewayClasses.find((c) => c.metadata.name === gw.spec?.gatewayClassName);
  return controllerFor(gw.spec?.gatewayClassName, cls) === GATEWAY_CONTROLLER;
}

export function buildIngressGatewayConfigs(input: MeshInput, ctx: IngressBuildContext): IngressGatewayBuild[] {
  const out: IngressGatewayBuild[] = [];
  const listenerCtx = { secrets: input.secrets ?? [], referenceGrants: input.referenceGrants ?? [] };
  const routes = [...(input.httpRoutes ?? []), ...(input.grpcRoutes ?? []), ...(input.tlsRoutes ?? [])];
  for (const gw of input.gateways) {
    if (!isIngressGateway(gw, input) || gw.metadata.deletionTimestamp) continue;
    const ns = gw.metadata.namespace!;
    const name = gw.metadata.name!;
    const resolved = resolveIngressListeners(gw, listenerCtx);
    const byListener = new Map<string, string[]>();
    const resources: KubeObject[] = [];
    for (const route of routes) {
      const accepted = new Set(attachRoute(route, gw, resolved, input.namespaces).flatMap((a) => a.listeners));
      if (!accepted.size) continue;
      resources.push(route);
      for (const l of accepted) (byListener.get(l) ?? byListener.set(l, []).get(l)!).push(resourceKey(wireObject(route)));
      for (const ref of crossNamespaceBackendRefs(route))
        for (const g of input.referenceGrants ?? []) if (referenceGrantAllows(g, ref) && !resources.includes(g)) resources.push(g);
    }
    const scope = { namespace: ns, name, gatewayClassName: gw.spec.gatewayClassName, services: new Set<string>(), hostnames: new Set<string>() };
    for (const ap of input.authorizationPolicies ?? []) if (targetsWaypoint(ap, scope, ctx.rootNamespace)) resources.push(ap);
    const listeners = resolved.filter((r) => r.ingress).map((r) => ({ ...r.ingress!, routes: (byListener.get(r.listener.name) ?? []).sort() }));
    out.push({
      key: `${ns}/${name}`,
      identity: { serviceAccount: ingressNames(gw).serviceAccount, ...(gw.metadata.uid ? { gatewayUid: gw.metadata.uid } : {}) },
      config: {
        waypoint: { name, namespace: ns, gatewayClassName: gw.spec.gatewayClassName, trafficType: 'none', services: [], workloads: [], role: 'ingress', listeners },
        workloads: ctx.workloads,
        services: ctx.services,
        resources: resources.map(wireObject).sort(order),
      },
    });
  }
  return out;
}
