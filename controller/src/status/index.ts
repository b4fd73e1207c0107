// Status the controller writes on objects it does not own (AuthorizationPolicy, HTTPRoute parents, WaypointPlugin
// Active from the waypoints' reports): pure parts (compute.ts, plugins.ts) and a leader-only writer fed by the mesh
// model builds of this process and by the status reports its push streams receive. Reports reach the writer only
// from this process's streams: with more than one controller replica, a waypoint connected to a standby counts once
// it reconnects to the leader (the install runs one replica; no relay between replicas is built).

import type { Component, ComponentContext } from '../kube/component.js';
import { onMeshBuilt } from '../mesh/watch.js';
import { onWaypointStatusReports, waypointStatusReports } from '../push/status.js';
import { StatusWriter } from './writer.js';

export { authorizationPolicyConditions, routeParentStatuses, resolveContext, ZTUNNEL_ACCEPTED, WAYPOINT_ACCEPTED, RESOLVED_WAYPOINTS, MSG_MISSING_LABEL, MSG_NO_PARENT } from './compute.js';
export { StatusWriter, STATUS_FIELD_MANAGER } from './writer.js';
export { waypointPluginActive, pluginWaypoints, reportsByPlugin, ACTIVE, REASON_PENDING, REASON_TARGET_NOT_FOUND } from './plugins.js';
export type { PluginReport, PluginConditionInput } from './plugins.js';
export type { StatusWriterOptions } from './writer.js';

/** The leader-only component: subscribes to the mesh builds while leading. */
export function statusComponent(ctx: Pick<ComponentContext, 'client' | 'log' | 'systemNamespace'>): Component {
  let writer: StatusWriter | undefined;
  let unsubscribe: (() => void) | undefined;
  let unsubscribeReports: (() => void) | undefined;
  return {
    name: 'status-writer',
    leaderOnly: true,
    start: async () => {
      writer = new StatusWriter({ client: ctx.client, rootNamespace: ctx.systemNamespace, reports: waypointStatusReports, log: ctx.log.child('status') });
      const w = writer;
      unsubscribe = onMeshBuilt((model, input) => w.update(model, input));
      unsubscribeReports = onWaypointStatusReports(() => w.refresh());
    },
    stop: async () => {
      unsubscribe?.();
      unsubscribeReports?.();
      await writer?.stop();
    },
  };
}
