// The whole decision for one Gateway as a pure function: given the Gateway, its class and what exists in the
// cluster, which objects to apply and which status to write. The controller gathers the inputs from its caches,
// calls this, and applies the result; golden tests call it on YAML.
import type { KubeObject } from '../kube/resources.js';
import { A, CLASS_MESH, CLASS_WAYPOINT, CONTROLLER_VERSION, L, MANAGED_VALUE, MESH_CONTROLLER } from './constants.js';
import { isManaged, renderWaypoint, waypointNames, type RenderContext } from './render.js';
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
}

export type Plan =
  | { action: 'ignore'; reason: string }
  | { action: 'reconcile'; setControllerVersion: boolean; apply: KubeObject[]; conflicts: string[]; status: GatewayStatus };

const BUILTIN: Record<string, string> = { [CLASS_MESH]: MESH_CONTROLLER, [CLASS_WAYPOINT]: MESH_CONTROLLER };

export function controllerFor(className: string, cls: GatewayClass | undefined): string | undefined {
  return cls?.spec?.controllerName ?? BUILTIN[className];
}

export function planGateway(input: PlanInput): Plan {
  const gw = input.gateway;
  if (gw.metadata.deletionTimestamp) return { action: 'ignore', reason: 'being deleted' };
  const controller = controllerFor(gw.spec?.gatewayClassName, input.gatewayClass);
  if (controller !== MESH_CONTROLLER) return { action: 'ignore', reason: `class ${gw.spec?.gatewayClassName} is not handled by ${MESH_CONTROLLER}` };
  const raw = gw.metadata.annotations?.[A.controllerVersion];
  if (raw !== undefined && (!/^\d+$/.test(raw) || Number(raw) > CONTROLLER_VERSION)) {
    return { action: 'ignore', reason: `managed by controller version ${raw}` };
  }
  const names = waypointNames(gw);
  const apply: KubeObject[] = [];
  const conflicts: string[] = [];
  let unmanagedReason: string | undefined;
  if (!isManaged(gw)) {
    unmanagedReason = 'Gateway spec.addresses requests more than one address or a hostname; waypoint deployment is not managed';
  } else {
    const r = renderWaypoint(gw, input.render);
    for (const obj of [r.serviceAccount, r.deployment, r.service]) {
      const live = input.existing.get(`${obj.kind}/${obj.metadata.name}`);
      if (live && live.metadata.labels?.[L.managed] !== MANAGED_VALUE) conflicts.push(`${obj.kind} ${gw.metadata.namespace}/${obj.metadata.name}`);
      else apply.push(obj);
    }
  }
  const svc = input.existing.get(`Service/${names.deployment}`) as Service | undefined;
  const ourSvc = svc && svc.metadata.labels?.[L.managed] === MANAGED_VALUE ? svc : undefined;
  const status = computeGatewayStatus({
    gateway: gw,
    serviceName: names.deployment,
    service: ourSvc,
    endpointSlices: ourSvc ? input.endpointSlices : [],
    conflicts,
    unmanagedReason,
    clusterDomain: input.render.clusterDomain,
    now: input.now,
  });
  return { action: 'reconcile', setControllerVersion: raw !== String(CONTROLLER_VERSION), apply, conflicts, status };
}
