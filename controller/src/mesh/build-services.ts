// Services: each TCP Service's VIPs, ports and application protocols, its endpoints (the pods its selector picks,
// or a selector-less Service's EndpointSlice targets), the identities behind it, and the waypoint it uses. Each
// endpoint's workload learns the Service's port map (`Workload.services`).
import type { AppProtocol, Service as ModelService, Workload } from '@ambit/mesh-api';
import { serviceHost } from '../gateway/names.js';
import type { MeshInput, Pod } from './input.js';
import { byKey, listIn, nsName, type ModelSettings, type ModelWarning } from './model.js';
import type { PodIndex } from './pod-index.js';
import { appProtocolOf } from './protocol.js';
import { waypointAddress, type WaypointBinding } from './waypoint-binding.js';
import { namedPort } from './workloads.js';

export interface BuiltServices {
  /** In input order. */
  services: ModelService[];
  /** `ns/hostname` -> the Service's labels (waypoints read them). */
  labels: Map<string, Record<string, string>>;
  /** Waypoint `ns/name` -> the `ns/name` of the Services bound to it. */
  bound: Map<string, string[]>;
}

export function buildServices(
  input: Pick<MeshInput, 'services' | 'endpointSlices'>,
  pods: PodIndex,
  workloads: Map<string, Workload>,
  binding: WaypointBinding,
  settings: Pick<ModelSettings, 'domain' | 'trustDomain'>,
  warnings: ModelWarning[],
): BuiltServices {
  const slicesBySvc = new Map<string, NonNullable<MeshInput['endpointSlices']>>();
  for (const s of input.endpointSlices ?? []) {
    const svc = s.metadata.labels?.['kubernetes.io/service-name'];
    if (svc) listIn(slicesBySvc, `${s.metadata.namespace}/${svc}`).push(s);
  }
  const out: BuiltServices = { services: [], labels: new Map(), bound: new Map() };
  for (const svc of input.services) {
    if (svc.spec?.type === 'ExternalName') continue;
    const ns = svc.metadata.namespace!;
    const hostname = serviceHost(svc.metadata.name!, ns, settings.domain);
    const key = `${ns}/${hostname}`;
    const ips = (svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
    const ports: Record<string, number> = {};
    const appProtocols: Record<string, AppProtocol> = {};
    for (const sp of svc.spec?.ports ?? []) {
      if (sp.protocol && sp.protocol !== 'TCP') continue;
      ports[String(sp.port)] = typeof sp.targetPort === 'number' ? sp.targetPort : sp.targetPort === undefined ? sp.port : /^\d+$/.test(sp.targetPort) ? Number(sp.targetPort) : 0;
      const proto = appProtocolOf(sp);
      if (proto) appProtocols[String(sp.port)] = proto;
    }
    // Endpoints: pods selected by the Service's selector; selector-less Services via EndpointSlices to Pods.
    let members: Pod[];
    if (svc.spec?.selector && Object.keys(svc.spec.selector).length) {
      members = [...pods.select(ns, svc.spec.selector)];
    } else {
      const seen = new Set<string>();
      members = [];
      for (const s of slicesBySvc.get(`${ns}/${svc.metadata.name}`) ?? [])
        for (const e of s.endpoints ?? []) {
          const t = e.targetRef;
          if (t?.kind !== 'Pod' || !t.name) continue;
          const p = pods.byName(t.namespace ?? ns, t.name);
          if (p && !seen.has(nsName(p))) {
            seen.add(nsName(p));
            members.push(p);
          }
        }
    }
    const endpoints: NonNullable<ModelService['endpoints']> = {};
    const sans = new Set<string>();
    for (const p of members.sort(byKey(nsName))) {
      const uid = pods.uidOf(p);
      const w = workloads.get(uid)!;
      const portMap: Record<string, number> = {};
      for (const sp of svc.spec?.ports ?? []) {
        if (sp.protocol && sp.protocol !== 'TCP') continue;
        const declared = ports[String(sp.port)]!;
        const target = declared || (typeof sp.targetPort === 'string' ? namedPort(p, sp.targetPort) : undefined);
        if (target) portMap[String(sp.port)] = target;
      }
      endpoints[uid] = { workloadUid: uid, port: portMap, status: w.status ?? 'Healthy' };
      (w.services ??= {})[key] = portMap;
      sans.add(`spiffe://${settings.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`);
    }
    const model: ModelService = { name: svc.metadata.name!, namespace: ns, hostname, vips: ips.map((ip) => `/${ip}`), ports, endpoints };
    if (Object.keys(appProtocols).length) model.appProtocols = appProtocols;
    if (sans.size) model.subjectAltNames = [...sans].sort();
    const wp = binding.forService(svc, members, warnings);
    const addr = wp && waypointAddress(wp.gateway);
    if (wp && addr) {
      model.waypoint = addr;
      listIn(out.bound, `${wp.namespace}/${wp.name}`).push(nsName(svc));
    }
    out.services.push(model);
    out.labels.set(key, svc.metadata.labels ?? {});
  }
  return out;
}
