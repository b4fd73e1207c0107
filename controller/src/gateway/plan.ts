// The whole decision for one Gateway as a pure function: given the Gateway, its class and what exists in the
// cluster, which objects to apply and which status to write. The controller gathers the inputs from its caches,
// calls this, and applies the result; golden tests call it on YAML.
import type { KubeObject } from '../kube/resources.js';
import { A, controllerFor, CONTROLLER_VERSION, GATEWAY_CONTROLLER, INGRESS_MANAGED_VALUE, L, MANAGED_VALUE, MESH_CONTROLLER } from './constants.js';
import { resolveIngressListeners, type IngressListenerContext } from './ingress-listeners.js';
import { renderIngressGateway } from './ingress-render.js';
import { computeIngressGatewayStatus } from './ingress-status.js';
import { resolveInfrastructureParameters, withParametersStatus, type ConfigMapKeys } from './parameters.js';
import { ingressNames, waypointNames } from './names.js';
import { isManaged, renderWaypoint, type RenderContext, type Rendered } from './render.js';
import { computeGatewayStatus } from './status.js';
import type { EndpointSlice, Gateway, GatewayClass, GatewayStatus, Service } from './types.js';

export interface PlanInput {
  gateway: Gateway;
  /** The GatewayClass object named by the Gateway, if it exists. */
  gatewayClass?: GatewayClass;
  /** Existing objects with the names the render produces (any labels), keyed `Kind/name`. */
  existing: Map<string, KubeObject>;
  /** EndpointSlices of the waypoint Service. */
  endpointSlices: EndpointSlice[];
  render: RenderContext;
  now: string;
  /** Secrets and ReferenceGrants for a class `istio` Gateway's TLS listeners (absent: none exist). */
  ingress?: IngressListenerContext;
  /** ConfigMaps by namespace and name, for `spec.infrastructure.parametersRef` (absent: none exist). */
  configMap?: (namespace: string, name: string) => ConfigMapKeys | undefined;
}

export type Plan =
  | { action: 'ignore'; reason: string }
  | { action: 'reconcile'; setControllerVersion: boolean; apply: KubeObject[]; conflicts: string[]; status: GatewayStatus };

/** Controllers whose Gateways this controller deploys. */
export const DEPLOYING_CONTROLLERS = [MESH_CONTROLLER, GATEWAY_CONTROLLER];

export function planGateway(input: PlanInput): Plan {
  const gw = input.gateway;
  if (gw.metadata.deletionTimestamp) return { action: 'ignore', reason: 'being deleted' };
  const controller = controllerFor(gw.spec?.gatewayClassName, input.gatewayClass);
  if (controller !== MESH_CONTROLLER && controller !== GATEWAY_CONTROLLER)
    return { action: 'ignore', reason: `class ${gw.spec?.gatewayClassName} is not handled by ${MESH_CONTROLLER} or ${GATEWAY_CONTROLLER}` };
  const ingress = controller === GATEWAY_CONTROLLER;
  const managed = ingress ? INGRESS_MANAGED_VALUE : MANAGED_VALUE;
  const raw = gw.metadata.annotations?.[A.controllerVersion];
  if (raw !== undefined && (!/^\d+$/.test(raw) || Number(raw) > CONTROLLER_VERSION)) {
    return { action: 'ignore', reason: `managed by controller version ${raw}` };
  }
  const names = ingress ? ingressNames(gw) : waypointNames(gw);
  // An unusable parametersRef: nothing is deployed (what exists is left as it is), the status says why.
  const parameters = resolveInfrastructureParameters(gw, input.configMap ?? (() => undefined));
  const apply: KubeObject[] = [];
  const conflicts: string[] = [];
  const claimed: Record<string, string> = {};
  let accountRefused = false;
  let unmanagedReason: string | undefined;
  const finish = (status: GatewayStatus): Plan => ({
    action: 'reconcile',
    setControllerVersion: raw !== String(CONTROLLER_VERSION),
    apply,
    conflicts: [...conflicts, ...Object.keys(claimed)],
    status: withParametersStatus(status, parameters, gw, input.now),
  });
  if (parameters.kind === 'invalid') {
    // Nothing is rendered: istiod deploys nothing for a Gateway whose parameters it cannot read.
  } else if (!isManaged(gw)) {
    unmanagedReason = 'Gateway spec.addresses requests more than one address or a hostname; waypoint deployment is not managed';
  } else {
    const r: Rendered = ingress ? renderIngressGateway(gw, input.render) : renderWaypoint(gw, input.render);
    for (const obj of [r.serviceAccount, r.deployment, r.service]) {
      const live = input.existing.get(`${obj.kind}/${obj.metadata.name}`);
      const what = `${obj.kind} ${gw.metadata.namespace}/${obj.metadata.name}`;
      const owner = live && otherGateway(live, gw);
      if (live && live.metadata.labels?.[L.managed] !== managed) conflicts.push(what);
      else if (owner) claimed[what] = `${gw.metadata.namespace}/${owner}`;
      // The waypoint runs only as a ServiceAccount this Gateway owns: never as the application's (or another
      // Gateway's) existing account that a name or a `gateway.istio.io/service-account` annotation points at.
      else if (obj.kind === 'Deployment' && accountRefused) continue;
      else apply.push(obj);
      if (obj.kind === 'ServiceAccount' && (conflicts.includes(what) || claimed[what])) accountRefused = true;
    }
  }
  const svc = input.existing.get(`Service/${names.deployment}`) as Service | undefined;
  const ourSvc = svc && svc.metadata.labels?.[L.managed] === managed ? svc : undefined;
  if (ingress) {
    const blocked = [
      ...(unmanagedReason ? [unmanagedReason] : []),
      ...Object.entries(claimed).map(([obj, owner]) => `${obj} belongs to Gateway ${owner}`),
      ...conflicts.map((c) => `${c} already exists and is not managed by ${GATEWAY_CONTROLLER}; left untouched`),
    ];
    const status = computeIngressGatewayStatus({
      gateway: gw,
      listeners: resolveIngressListeners(gw, input.ingress ?? { secrets: [], referenceGrants: [] }),
      serviceName: names.deployment,
      service: ourSvc,
      endpointSlices: ourSvc ? input.endpointSlices : [],
      ...(blocked.length ? { blocked: blocked.join('; ') } : {}),
      clusterDomain: input.render.clusterDomain,
      now: input.now,
    });
    return finish(status);
  }
  const status = computeGatewayStatus({
    gateway: gw,
    serviceName: names.deployment,
    service: ourSvc,
    endpointSlices: ourSvc ? input.endpointSlices : [],
    conflicts,
    claimed,
    unmanagedReason,
    clusterDomain: input.render.clusterDomain,
    now: input.now,
  });
  return finish(status);
}

/** The other Gateway a managed object belongs to (its gateway-name label or a Gateway owner), if not `gw`. */
function otherGateway(live: KubeObject, gw: Gateway): string | undefined {
  const label = live.metadata.labels?.[L.gatewayName];
  if (label && label !== gw.metadata.name) return label;
  const owner = (live.metadata.ownerReferences ?? []).find((r) => r.kind === 'Gateway' && r.name !== gw.metadata.name);
  return owner?.name;
}
