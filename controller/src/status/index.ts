// Status the controller writes on objects it does not own (AuthorizationPolicy, HTTPRoute parents): a pure part
// (compute.ts) and a leader-only writer fed by the mesh model builds of this process.

import type { Component, ComponentContext } from '../kube/component.js';
import { onMeshBuilt } from '../mesh/watch.js';
import { StatusWriter } from './writer.js';

export { authorizationPolicyConditions, routeParentStatuses, resolveContext, ZTUNNEL_ACCEPTED, WAYPOINT_ACCEPTED, RESOLVED_WAYPOINTS, MSG_MISSING_LABEL, MSG_NO_PARENT } from './compute.js';
export { StatusWriter, STATUS_FIELD_MANAGER } from './writer.js';
export type { StatusWriterOptions } from './writer.js';

/** The leader-only component: subscribes to the mesh builds while leading. */
export function statusComponent(ctx: Pick<ComponentContext, 'client' | 'log' | 'systemNamespace'>): Component {
  let writer: StatusWriter | undefined;
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'status-writer',
    leaderOnly: true,
    start: async () => {
      writer = new StatusWriter({ client: ctx.client, rootNamespace: ctx.systemNamespace, log: ctx.log.child('status') });
      const w = writer;
      unsubscribe = onMeshBuilt((model, input) => w.update(model, input));
    },
    stop: async () => {
      unsubscribe?.();
      await writer?.stop();
    },
  };
}
