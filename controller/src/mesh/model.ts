// What the mesh model builder produces (./build.ts), read by the config push, its authorization and the status
// writer: the ztunnels' config, one config per waypoint, and the warnings Istio reports in object status.
import type { MeshConfig, WaypointConfig } from '@ambit/mesh-api';

/** The ServiceAccount a waypoint Gateway's pods run as, and the Gateway's uid (the push stream's authorization). */
export interface WaypointIdentity {
  serviceAccount: string;
  gatewayUid?: string;
  /**
   * The installed ingress gateway (no Gateway owns it or its ServiceAccount): the labels its pods carry, which a
   * caller's pod must carry too.
   */
  podLabels?: Record<string, string>;
}

export interface ModelWarning {
  /** `Kind ns/name` of the object the warning is about. */
  object: string;
  reason: string;
  message: string;
}

export interface MeshModel {
  /** What every ztunnel receives. */
  mesh: MeshConfig;
  /** One config per waypoint Gateway, by `ns/name`. */
  waypoints: Map<string, WaypointConfig>;
  /** Conversion warnings (Istio reports them in the policy's status). */
  warnings: ModelWarning[];
  /** What each waypoint (`ns/name`) runs as: the config stream admits only that account's pods. */
  identities: Map<string, WaypointIdentity>;
}

/** MeshOptions with their defaults filled in, as every builder reads them. */
export interface ModelSettings {
  clusterId: string;
  trustDomain: string;
  domain: string;
  rootNamespace: string;
  enableDryRun: boolean;
}

export const nsName = (o: { metadata: { namespace?: string; name?: string } }): string => `${o.metadata.namespace}/${o.metadata.name}`;
export const byKey = <T>(key: (t: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/** `map[key]`, created empty on first use. */
export function listIn<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}
