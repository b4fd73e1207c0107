// Workloads: one per modelled Pod, as istiod's ambient index builds them for ztunnels (identity, IPs, HBONE when
// the pod's traffic is captured, health, canonical name and revision), and the waypoint each one uses.
import type { Workload } from '@ambit/mesh-api';
import type { Pod } from './input.js';
import { listIn, type ModelSettings } from './model.js';
import type { PodIndex } from './pod-index.js';
import { waypointAddress, type WaypointBinding } from './waypoint-binding.js';
import { canonical, podIps, podReady, podServiceAccount, REDIRECTION_ANNOTATION, workloadNameAndType } from './workloads.js';

export interface BuiltWorkloads {
  /** By uid, in pod order. */
  workloads: Map<string, Workload>;
  podOfUid: Map<string, Pod>;
  /** Waypoint `ns/name` -> the uids of the workloads bound to it. */
  bound: Map<string, string[]>;
}

export function buildWorkloads(pods: PodIndex, binding: WaypointBinding, settings: Pick<ModelSettings, 'clusterId' | 'trustDomain'>): BuiltWorkloads {
  const out: BuiltWorkloads = { workloads: new Map(), podOfUid: new Map(), bound: new Map() };
  for (const p of pods.pods) {
    const { name: workloadName, type } = workloadNameAndType(p);
    const c = canonical(p.metadata.labels, workloadName);
    const w: Workload = {
      uid: pods.uidOf(p),
      name: p.metadata.name!,
      namespace: p.metadata.namespace!,
      serviceAccount: podServiceAccount(p),
      workloadIps: podIps(p),
      protocol: p.metadata.annotations?.[REDIRECTION_ANNOTATION] === 'enabled' ? 'HBONE' : 'TCP',
      workloadName,
      workloadType: type,
      canonicalName: c.name,
      canonicalRevision: c.revision,
      // A terminating pod is no longer chosen for new connections (its open ones finish), as an EndpointSlice
      // marks it not ready: a waypoint or app pod rolled under load gets no new work while it drains.
      status: podReady(p) && !p.metadata.deletionTimestamp ? 'Healthy' : 'Unhealthy',
      clusterId: settings.clusterId,
    };
    if (settings.trustDomain !== 'cluster.local') w.trustDomain = settings.trustDomain;
    if (p.spec?.nodeName) w.node = p.spec.nodeName;
    const wp = binding.forPod(p);
    const addr = wp && waypointAddress(wp.gateway);
    if (wp && addr) {
      w.waypoint = addr;
      listIn(out.bound, `${wp.namespace}/${wp.name}`).push(w.uid);
    }
    out.workloads.set(w.uid, w);
    out.podOfUid.set(w.uid, p);
  }
  return out;
}
