// Status the controller writes on objects it does not own (AuthorizationPolicy, HTTPRoute parents, WaypointPlugin
// Active from the waypoints' reports): pure parts (compute.ts, plugins.ts) and a leader-only writer fed by the mesh
// model builds of this process and by the status reports its push streams receive. Reports reach the writer only
// from this process's streams: with more than one controller replica, a waypoint connected to a standby counts once
// it reconnects to the leader (the install runs one replica; no relay between replicas is built).

import type { Component } from '../kube/component.js';
import type { Logger } from '@ambit/mesh-api';
import type { KubeClient } from '../kube/client.js';
import type { MeshModel } from '../mesh/model.js';
import type { MeshInput } from '../mesh/input.js';
import type { WaypointStatusReports } from '../push/status.js';
import { StatusWriter } from './writer.js';

export { authorizationPolicyConditions, routeParentStatuses, resolveContext, ZTUNNEL_ACCEPTED, WAYPOINT_ACCEPTED, RESOLVED_WAYPOINTS, MSG_MISSING_LABEL, MSG_NO_PARENT } from './compute.js';
export { StatusWriter, STATUS_FIELD_MANAGER } from './writer.js';
export { ingressAttachedRoutes, ingressResolvedRefs, ingressRouteParentStatuses } from './ingress-routes.js';
export { waypointPluginActive, pluginWaypoints, reportsByPlugin, ACTIVE, REASON_PENDING, REASON_TARGET_NOT_FOUND } from './plugins.js';
export type { PluginReport, PluginConditionInput } from './plugins.js';
export type { StatusWriterOptions } from './writer.js';

export interface StatusComponentOptions {
  client: KubeClient;
  log: Logger;
  systemNamespace: string;
  /** The push servers' waypoint status reports (WaypointPlugin Active). */
  reports: WaypointStatusReports;
}

/** The leader-only status writer; the mesh model's owner hands it every build (`update`), kept until it leads. */
export interface StatusComponent extends Component {
  update(model: MeshModel, input: MeshInput): void;
}

export function statusComponent(opts: StatusComponentOptions): StatusComponent {
  let writer: StatusWriter | undefined;
  let last: { model: MeshModel; input: MeshInput } | undefined;
  let unsubscribeReports: (() => void) | undefined;
  return {
    name: 'status-writer',
    leaderOnly: true,
    update(model, input) {
      last = { model, input };
      writer?.update(model, input);
    },
    start: async () => {
      const w = new StatusWriter({ client: opts.client, rootNamespace: opts.systemNamespace, reports: () => opts.reports.list(), log: opts.log.child('status') });
      writer = w;
      if (last) w.update(last.model, last.input);
      unsubscribeReports = opts.reports.onChange(() => w.refresh());
    },
    stop: async () => {
      const w = writer;
      writer = undefined;
      unsubscribeReports?.();
      await w?.stop();
    },
  };
}
