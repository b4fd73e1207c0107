// The config push stream on :15012 (shared with the CA): every ztunnel gets the mesh model, every waypoint its
// WaypointConfig, versioned and incremental, with acknowledgements.
//
//   const push = new PushComponent({ server: ca.server, authenticator: ca.authenticator, pods: ca.pods });
//   await push.start();
//   push.update({ mesh, waypoints });   // from the mesh component, on every model change
//
// While started, its waypoints' status reports are visible in `reports` (the control plane's WaypointStatusReports,
// which the leader's status writer reads).

import { PushServer, type AckEvent, type PushEvent, type PushSnapshot, type StreamAuthorizer } from './server.js';
import { streamAuthorizer, type ServiceAccountLookup } from './authorize.js';
import { WaypointStatusReports } from './status.js';
import type { Authenticator } from '../ca/auth.js';
import type { PodLookup } from '../ca/pods.js';
import type { ControlPlaneServer } from '../ca/server.js';
import { logger, type PartialLogger } from '@ambit/mesh-api';
import { STREAM_PATH } from '@ambit/mesh-api';

export interface PushComponentOptions {
  /** The :15012 server (CaComponent.server). */
  server: ControlPlaneServer;
  authenticator: Authenticator;
  pods: PodLookup;
  trustedNodeAccounts?: string[];
  /** Replaces the default rules (trusted node accounts for ztunnel; a waypoint's own pods for its config). */
  authorize?: StreamAuthorizer;
  /** With it, a waypoint's ServiceAccount must be owned by its Gateway (the controller passes an API lookup). */
  serviceAccounts?: ServiceAccountLookup;
  pingIntervalMs?: number;
  /** Open streams per caller pod (default 4) and in all (default 10 000). */
  maxStreamsPerCaller?: number;
  maxStreams?: number;
  log?: PartialLogger;
  /** Where its waypoints' status reports are registered while started (a view of its own when absent). */
  reports?: WaypointStatusReports;
}

export class PushComponent {
  readonly push: PushServer;
  readonly reports: WaypointStatusReports;
  readonly #opts: PushComponentOptions;
  #withdraw: (() => void) | undefined;

  constructor(opts: PushComponentOptions) {
    this.#opts = opts;
    this.reports = opts.reports ?? new WaypointStatusReports();
    const log = opts.log ?? logger('push');
    this.push = new PushServer({
      authenticator: opts.authenticator,
      authorize:
        opts.authorize ??
        streamAuthorizer({
          pods: opts.pods,
          ...(opts.trustedNodeAccounts ? { trustedNodeAccounts: opts.trustedNodeAccounts } : {}),
          ...(opts.serviceAccounts ? { serviceAccounts: opts.serviceAccounts } : {}),
        }),
      log,
      ...(opts.pingIntervalMs ? { pingIntervalMs: opts.pingIntervalMs } : {}),
      ...(opts.maxStreamsPerCaller ? { maxStreamsPerCaller: opts.maxStreamsPerCaller } : {}),
      ...(opts.maxStreams ? { maxStreams: opts.maxStreams } : {}),
    });
  }

  async start(): Promise<void> {
    this.#opts.server.route(STREAM_PATH, this.push.handler());
    this.#withdraw = this.reports.register(this.push);
  }

  async stop(): Promise<void> {
    this.#withdraw?.();
    this.push.closeAll();
  }

  /** Installs a new model; pushes the changes. */
  update(snapshot: PushSnapshot): string {
    return this.push.update(snapshot);
  }
}

export { PushServer, streamAuthorizer };
export { kubeServiceAccountLookup } from './authorize.js';
export type { ServiceAccountLookup, ServiceAccountFacts, WaypointIdentity } from './authorize.js';
export type { AckEvent, PushEvent, PushSnapshot, StreamAuthorizer };
export type { PushServerOptions, StreamRequest } from './server.js';
export { parseStatusReport, ReportError, REPORTABLE_KINDS, WaypointStatusReports } from './status.js';
export type { WaypointStatusReport, ReportSource } from './status.js';
export type { StreamAuthorizerOptions } from './authorize.js';
