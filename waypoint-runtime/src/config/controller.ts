// A ConfigSource fed by the controller's push stream (ztunnel-runtime's ConfigClient in waypoint mode); the
// waypoint's status reports (WaypointPlugin Active) go back up the same stream. Each snapshot is the whole config;
// one that came as a delta also carries that delta, so the waypoint applies it in place.

import type { K8sObject } from '@ambit/plugin-sdk';
import { ConfigClient, type ConfigClientOptions, type ConfigUpdate, type StatusReport, type WaypointConfig } from '@ambit/mesh-api';
import { StaticConfigSource, type SnapshotDelta, type WaypointSnapshot } from './source.js';

export function snapshotFromPush(config: WaypointConfig, version?: string, delta?: SnapshotDelta): WaypointSnapshot {
  return {
    mesh: { workloads: config.workloads, services: config.services },
    resources: config.resources as unknown as K8sObject[],
    binding: { services: config.waypoint?.services ?? [], workloads: config.waypoint?.workloads ?? [] },
    version,
    ingress: config.waypoint?.role === 'ingress' ? { listeners: config.waypoint.listeners ?? [] } : undefined,
    ...(config.tracing ? { tracing: config.tracing } : {}),
    ...(delta ? { delta } : {}),
  };
}

/** A delta update (not `full`) on top of version `base`, as the waypoint applies it. */
export function deltaFromPush(update: ConfigUpdate<WaypointConfig>, base: string): SnapshotDelta {
  const up = update.upserts ?? {};
  const rm = update.removals ?? {};
  const changed = (name: keyof WaypointConfig) => up[name] !== undefined || rm[name] !== undefined;
  return {
    base,
    upserts: { workloads: up.workloads, services: up.services, resources: up.resources as unknown as K8sObject[] | undefined },
    removals: { workloads: rm.workloads, services: rm.services, resources: rm.resources },
    binding: changed('waypoint'),
    tracing: changed('tracing'),
  };
}

export class ControllerConfigSource extends StaticConfigSource {
  readonly client: ConfigClient<WaypointConfig>;
  constructor(opts: Omit<ConfigClientOptions<WaypointConfig>, 'kind'> & { waypoint: string }) {
    super();
    this.client = new ConfigClient<WaypointConfig>({ ...opts, kind: 'waypoint' });
    // The client applies a delta only to the version it holds, which is the one delivered last.
    let delivered: string | undefined;
    this.client.onUpdate((config, update) => {
      const delta = !update.full && delivered !== undefined ? deltaFromPush(update, delivered) : undefined;
      delivered = undefined;
      this.set(snapshotFromPush(config, update.version, delta));
      delivered = update.version;
    });
  }
  override async start(): Promise<void> {
    await this.client.start();
  }
  override async stop(): Promise<void> {
    await this.client.stop();
  }
  reportStatus(report: StatusReport): void {
    this.client.reportStatus(report);
  }
}
