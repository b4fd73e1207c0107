// What every proxy direction shares: the model, certificates, metrics, HBONE client, settings.
import { bindingSocketFactory, HboneClient, type CertificateManager, type SocketFactory } from '@ambit/mesh-api';
import type { MeshStore } from '@ambit/mesh-api';
import { Metrics } from '../telemetry/metrics.js';

export interface ProxySettings {
  /** Cluster id for metrics (`Kubernetes`). */
  clusterId: string;
  /** Local network name ("" default). */
  network: string;
  /** Port peers listen for HBONE on (15008). */
  hbonePort: number;
  /** Ports that would loop back into ztunnel. */
  illegalPorts: number[];
}

export const defaultSettings: ProxySettings = { clusterId: 'Kubernetes', network: '', hbonePort: 15008, illegalPorts: [15001, 15006, 15008] };

export class ProxyContext {
  readonly settings: ProxySettings;
  readonly metrics: Metrics;
  /** Default HBONE client (pool); in-pod mode may pass one per pod to the outbound handler. */
  readonly hbone: HboneClient;
  /** Opens plaintext upstream sockets (and HBONE ones for the default client). */
  readonly socketFactory: SocketFactory;

  constructor(
    readonly store: MeshStore,
    readonly certs: CertificateManager,
    opts: { settings?: Partial<ProxySettings>; metrics?: Metrics; socketFactory?: SocketFactory; hbone?: HboneClient; poolMaxStreams?: number; poolIdleMs?: number } = {},
  ) {
    this.settings = { ...defaultSettings, ...opts.settings };
    this.metrics = opts.metrics ?? new Metrics();
    this.socketFactory = opts.socketFactory ?? bindingSocketFactory;
    this.hbone = opts.hbone ?? new HboneClient({ socketFactory: this.socketFactory, maxStreamsPerConnection: opts.poolMaxStreams, idleTimeoutMs: opts.poolIdleMs });
  }
}
