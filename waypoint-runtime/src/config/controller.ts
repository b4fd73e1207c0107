// A ConfigSource fed by the controller's push stream (ztunnel-runtime's ConfigClient in waypoint mode); the
// waypoint's status reports (WaypointPlugin Active) go back up the same stream.

import type { K8sObject } from '@ambit/plugin-sdk';
import { ConfigClient, type ConfigClientOptions, type StatusReport, type WaypointConfig } from '@ambit/mesh-api';
import { StaticConfigSource, type WaypointSnapshot } from './source.js';

export function snapshotFromPush(config: WaypointConfig, version?: string): WaypointSnapshot {
  return {
    mesh: { workloads: config.workloads, services: config.services },
    resources: config.resources as unknown as K8sObject[],
    binding: { services: config.waypoint?.services ?? [], workloads: config.waypoint?.workloads ?? [] },
    version,
    ingress: config.waypoint?.role === 'ingress' ? { listeners: config.waypoint.listeners ?? [] } : undefined,
    ...(config.tracing ? { tracing: config.tracing } : {}),
  };
}

export class ControllerConfigSource extends StaticConfigSource {
  readonly client: ConfigClient<WaypointConfig>;
  constructor(opts: Omit<ConfigClientOptions<WaypointConfig>, 'kind'> & { waypoint: string }) {
    super();
    this.client = new ConfigClient<WaypointConfig>({ ...opts, kind: 'waypoint' });
    this.client.onUpdate((config, update) => this.set(snapshotFromPush(config, update.version)));
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
