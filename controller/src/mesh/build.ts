// The mesh model builder: Kubernetes objects in, the model out (pure). What istiod's ambient index computes for
// WDS/RBAC, one builder a concern, in the order each needs the last:
//   ./waypoint-binding     which waypoint a Pod or Service uses (Gateways, GatewayClasses, Namespaces)
//   ./build-workloads      workloads (Pods)
//   ./build-services       services (Services and their endpoints); endpoints' workloads learn their Services
//   ./build-authorization  authorization policies; selected workloads learn their policies
//   ./build-waypoints      per waypoint and ingress gateway, the WaypointConfig its runtime needs
import type { MeshConfig } from '@ambit/mesh-api';
import { buildAuthorization } from './build-authorization.js';
import { buildServices } from './build-services.js';
import { buildWaypoints } from './build-waypoints.js';
import { buildWorkloads } from './build-workloads.js';
import type { MeshInput, MeshOptions } from './input.js';
import { byKey, type MeshModel, type ModelSettings, type ModelWarning } from './model.js';
import { PodIndex } from './pod-index.js';
import { WaypointBinding } from './waypoint-binding.js';

export function modelSettings(opts: MeshOptions = {}): ModelSettings {
  return {
    clusterId: opts.clusterId ?? 'Kubernetes',
    trustDomain: opts.trustDomain ?? 'cluster.local',
    domain: opts.domainSuffix ?? 'cluster.local',
    rootNamespace: opts.rootNamespace ?? 'istio-system',
    enableDryRun: opts.enableDryRun ?? false,
  };
}

export function buildMesh(input: MeshInput, opts: MeshOptions = {}): MeshModel {
  const settings = modelSettings(opts);
  const warnings: ModelWarning[] = [];
  const binding = new WaypointBinding(input);
  const pods = new PodIndex(input.pods, settings.clusterId);
  const { workloads, podOfUid, bound: boundWorkloads } = buildWorkloads(pods, binding, settings);
  const services = buildServices(input, pods, workloads, binding, settings, warnings);
  const policies = buildAuthorization(input, pods, workloads, podOfUid, settings, warnings);
  const mesh = {
    workloads: [...workloads.values()].sort(byKey((w) => w.uid)),
    services: services.services.sort(byKey((s) => `${s.namespace}/${s.hostname}`)),
    policies: policies.sort(byKey((p) => `${p.namespace}/${p.name}`)),
  } satisfies MeshConfig;
  const { waypoints, identities } = buildWaypoints(
    input,
    { mesh, podOfUid, serviceLabels: services.labels, boundServices: services.bound, boundWorkloads },
    binding,
    settings,
    warnings,
  );
  return { mesh, waypoints, warnings, identities };
}
