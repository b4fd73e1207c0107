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
  const claimed: Record<string, string> = {};
  let accountRefused = false;
  let unmanagedReason: string | undefined;
  if (!isManaged(gw)) {
    unmanagedReason = 'Gateway spec.addresses requests more than one address or a hostname; waypoint deployment is not managed';
  } else {
    const r = renderWaypoint(gw, input.render);
    for (const obj of [r.serviceAccount, r.deployment, r.service]) {
      const live = input.existing.get(`${obj.kind}/${obj.metadata.name}`);
      const what = `${obj.kind} ${gw.metadata.namespace}/${obj.metadata.name}`;
      const owner = live && otherGateway(live, gw);
      if (live && live.metadata.labels?.[L.managed] !== MANAGED_VALUE) conflicts.push(what);
      else if (owner) claimed[what] = `${gw.metadata.namespace}/${owner}`;
      // The waypoint runs only as a ServiceAccount this Gateway owns: never as the application's (or another
      // Gateway's) existing account that a name or a `gateway.istio.io/service-account` annotation points at.
      else if (obj.kind === 'Deployment' && accountRefused) continue;
      else apply.push(obj);
      if (obj.kind === 'ServiceAccount' && (conflicts.includes(what) || claimed[what])) accountRefused = true;
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
    claimed,
    unmanagedReason,
    clusterDomain: input.render.clusterDomain,
    now: input.now,
  });
  return { action: 'reconcile', setControllerVersion: raw !== String(CONTROLLER_VERSION), apply, conflicts: [...conflicts, ...Object.keys(claimed)], status };
}

/** The other Gateway a managed object belongs to (its gateway-name label or a Gateway owner), if not `gw`. */
function otherGateway(live: KubeObject, gw: Gateway): string | undefined {
  const label = live.metadata.labels?.[L.gatewayName];
  if (label && label !== gw.metadata.name) return label;
  const owner = (live.metadata.ownerReferences ?? []).find((r) => r.kind === 'Gateway' && r.name !== gw.metadata.name);
  return owner?.name;
}
