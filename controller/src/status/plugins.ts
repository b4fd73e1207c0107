// WaypointPlugin `Active`: what the waypoints that hold a plugin report about it (over the push stream), folded
// into the one condition the CRD's status carries. Pure: the plugin, the waypoints the model sends it to, their
// reports and the current condition in; the condition to write (or none) out.
//
// How reports combine (several waypoints, and several pods of one waypoint, may run the same plugin):
// - sent to no waypoint: False/TargetNotFound (nothing it targets exists, or nothing is bound to it);
// - no waypoint has reported yet: Unknown/Pending, unless the condition came from the waypoints before (a controller
//   that just restarted, waiting for its waypoints to reconnect, keeps their last word rather than flapping);
// - any report False: False, with the first failing reason, and every failing waypoint named with its message;
// - else any report Degraded (loaded, but hooks fail and the failStrategy applies): True/Degraded, naming them;
// - else True/Loaded once one waypoint loaded it, naming the waypoints, and those that have not reported yet.
// observedGeneration is the oldest generation among the reports: the condition holds at least for that one.

import type { ReportedCondition } from '@ambit/mesh-api';
import type { Condition, KubeObject } from '../kube/resources.js';
import { nsName, type MeshModel } from '../mesh/model.js';
import { targetRefsOf } from '../mesh/resources.js';
import type { WaypointStatusReport } from '../push/status.js';

export const WAYPOINT_PLUGIN_KIND = 'WaypointPlugin';
export const ACTIVE = 'Active';
export const REASON_TARGET_NOT_FOUND = 'TargetNotFound';
export const REASON_PENDING = 'Pending';
/** Reasons the controller sets itself (the others come from waypoints). */
const CONTROLLER_REASONS = new Set([REASON_TARGET_NOT_FOUND, REASON_PENDING]);
/** At most this many distinct messages in one condition. */
const MAX_GROUPS = 5;

/** One waypoint pod's word on one plugin. */
export interface PluginReport {
  /** `ns/name` of the waypoint. */
  waypoint: string;
  /** The stream (pod) it came from. */
  client: string;
  condition: ReportedCondition;
}


/** `ns/name` of each WaypointPlugin -> the waypoints (`ns/name`) whose pushed config holds it. */
export function pluginWaypoints(model: Pick<MeshModel, 'waypoints'>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [waypoint, cfg] of model.waypoints) {
    for (const o of cfg.resources) {
      if (o.kind !== WAYPOINT_PLUGIN_KIND) continue;
      const key = nsName(o);
      const list = out.get(key) ?? [];
      list.push(waypoint);
      out.set(key, list);
    }
  }
  for (const list of out.values()) list.sort();
  return out;
}

/** The streams' reports regrouped by plugin (`ns/name`), in a stable order (waypoint, then stream). */
export function reportsByPlugin(reports: WaypointStatusReport[]): Map<string, PluginReport[]> {
  const out = new Map<string, PluginReport[]>();
  for (const r of reports) {
    for (const c of r.conditions) {
      if (c.kind !== WAYPOINT_PLUGIN_KIND || c.type !== ACTIVE) continue;
      const key = `${c.namespace}/${c.name}`;
      const list = out.get(key) ?? [];
      list.push({ waypoint: r.waypoint, client: r.client, condition: c });
      out.set(key, list);
    }
  }
  const order = (a: PluginReport, b: PluginReport) => (a.waypoint === b.waypoint ? cmp(a.client, b.client) : cmp(a.waypoint, b.waypoint));
  for (const list of out.values()) list.sort(order);
  return out;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `waypoint a, b: message; waypoint c: other message` (one group per distinct reason and message). */
function summarize(reports: PluginReport[]): string {
  const groups = new Map<string, { message: string; waypoints: string[] }>();
  for (const r of reports) {
    const k = `${r.condition.reason}\n${r.condition.message}`;
    const g = groups.get(k) ?? { message: r.condition.message, waypoints: [] };
    if (!g.waypoints.includes(r.waypoint)) g.waypoints.push(r.waypoint);
    groups.set(k, g);
  }
  const all = [...groups.values()];
  const parts = all.slice(0, MAX_GROUPS).map((g) => `waypoint ${g.waypoints.join(', ')}: ${g.message}`);
  if (all.length > MAX_GROUPS) parts.push(`and ${all.length - MAX_GROUPS} more`);
  return parts.join('; ');
}

function describeTargets(plugin: KubeObject, rootNamespace: string): string {
  const refs = targetRefsOf(plugin);
  const ns = plugin.metadata.namespace!;
  if (!refs.length) return ns === rootNamespace ? 'no waypoint exists' : `no waypoint in namespace ${ns}`;
  const names = refs.map((r) => `${r.kind ?? ''} ${r.kind === 'GatewayClass' ? '' : `${r.namespace ?? ns}/`}${r.name ?? ''}`);
  return `no waypoint matches its targetRefs (${names.join(', ')}): the target does not exist, is not a waypoint, or is not bound to one`;
}

export interface PluginConditionInput {
  plugin: KubeObject;
  /** Waypoints (`ns/name`) the model sends the plugin to. */
  waypoints: string[];
  /** Reports about this plugin (any waypoint; those not in `waypoints` are ignored). */
  reports: PluginReport[];
  /** The Active condition the object carries now. */
  existing?: Condition;
  rootNamespace?: string;
}

/** The Active condition to write, or undefined to leave the current one as it is. */
export function waypointPluginActive(input: PluginConditionInput): Condition | undefined {
  const { plugin, waypoints, existing } = input;
  const generation = plugin.metadata.generation;
  const ownGen = generation !== undefined ? { observedGeneration: generation } : {};
  if (!waypoints.length) {
    return { type: ACTIVE, status: 'False', reason: REASON_TARGET_NOT_FOUND, message: describeTargets(plugin, input.rootNamespace ?? 'istio-system'), ...ownGen };
  }
  const expected = new Set(waypoints);
  const reports = input.reports.filter((r) => expected.has(r.waypoint));
  if (!reports.length) {
    if (existing && !CONTROLLER_REASONS.has(existing.reason)) return undefined;
    return { type: ACTIVE, status: 'Unknown', reason: REASON_PENDING, message: `waiting for waypoint ${waypoints.join(', ')} to load it`, ...ownGen };
  }
  const gens = reports.map((r) => r.condition.observedGeneration).filter((g): g is number => g !== undefined);
  const gen = gens.length ? { observedGeneration: Math.min(...gens) } : {};
  const failing = reports.filter((r) => r.condition.status === 'False');
  if (failing.length) return { type: ACTIVE, status: 'False', reason: failing[0]!.condition.reason, message: summarize(failing), ...gen };
  const degraded = reports.filter((r) => r.condition.status === 'True' && r.condition.reason === 'Degraded');
  if (degraded.length) return { type: ACTIVE, status: 'True', reason: 'Degraded', message: summarize(degraded), ...gen };
  const loaded = reports.filter((r) => r.condition.status === 'True');
  const silent = waypoints.filter((w) => !loaded.some((r) => r.waypoint === w));
  const waiting = silent.length ? `; not yet reported by waypoint ${silent.join(', ')}` : '';
  if (!loaded.length) return { type: ACTIVE, status: 'Unknown', reason: reports[0]!.condition.reason, message: summarize(reports) + waiting, ...gen };
  return { type: ACTIVE, status: 'True', reason: loaded[0]!.condition.reason, message: summarize(loaded) + waiting, ...gen };
}
