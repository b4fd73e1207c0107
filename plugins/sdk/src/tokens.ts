// Injection tokens: what a plugin may depend on. `Symbol.for` keeps them equal across copies of this package.

import type { InjectionToken } from 'tsyringe';
import type { Logger } from './logger.js';
import type { MetricsRegistry } from './metrics.js';
import type { MeshStateReader } from './mesh.js';
import type { ResourceReader } from './resources.js';
import type { Plugin } from './plugin.js';
import type { TracingReader } from './tracing.js';

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Monotonic milliseconds (for durations). */
  monotonic(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Who this waypoint is. */
export interface WaypointIdentity {
  name: string;
  namespace: string;
  trustDomain: string;
  serviceAccount: string;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  spiffeId: string;
  /** Root namespace for mesh-wide (GatewayClass-attached) policies. Default `istio-system`. */
  rootNamespace: string;
  /** The proxy's own workload (its Deployment, ISTIO_META_WORKLOAD_NAME); an ingress gateway reports as it. */
  workload?: string;
}

export interface ResourceRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface StatusCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  /** `metadata.generation` of the object the condition was computed from. */
  observedGeneration?: number;
}

export interface StatusReporter {
  report(ref: ResourceRef, condition: StatusCondition): void;
}

export interface AccessLogSink {
  write(line: string): void;
}

/** A StatusReporter that keeps the last condition per resource and type (runtime and test kit use it). */
export class MemoryStatusReporter implements StatusReporter {
  readonly conditions = new Map<string, StatusCondition>();
  report(ref: ResourceRef, c: StatusCondition): void {
    this.conditions.set(`${ref.kind}/${ref.namespace}/${ref.name}/${c.type}`, c);
  }
  get(kind: string, namespace: string, name: string, type: string): StatusCondition | undefined {
    return this.conditions.get(`${kind}/${namespace}/${name}/${type}`);
  }
}

export const LOGGER: InjectionToken<Logger> = Symbol.for('ambit.plugin-sdk.Logger');
export const METRICS: InjectionToken<MetricsRegistry> = Symbol.for('ambit.plugin-sdk.MetricsRegistry');
export const MESH_STATE: InjectionToken<MeshStateReader> = Symbol.for('ambit.plugin-sdk.MeshState');
export const CLOCK: InjectionToken<Clock> = Symbol.for('ambit.plugin-sdk.Clock');
/** The L7 resources (AuthorizationPolicy, HTTPRoute, ...) this waypoint was given. */
export const RESOURCES: InjectionToken<ResourceReader> = Symbol.for('ambit.plugin-sdk.Resources');
export const WAYPOINT: InjectionToken<WaypointIdentity> = Symbol.for('ambit.plugin-sdk.Waypoint');
/** Where plugins report problems with the resources they read (the controller turns them into status). */
export const STATUS: InjectionToken<StatusReporter> = Symbol.for('ambit.plugin-sdk.Status');
/** A sink for access-log lines (one line per request, no trailing newline). */
export const ACCESS_LOG: InjectionToken<AccessLogSink> = Symbol.for('ambit.plugin-sdk.AccessLog');
/** The waypoint's span-export settings (undefined `current`: tracing off). */
export const TRACING: InjectionToken<TracingReader> = Symbol.for('ambit.plugin-sdk.Tracing');
/** All plugin classes of a chain are registered under this token. */
export const PLUGIN: InjectionToken<Plugin> = Symbol.for('ambit.plugin-sdk.Plugin');

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
