// The controller's composition root: the one place that reads the configuration (config.ts), makes the shared
// informers and every component, and wires them to each other by name. main.ts calls runController; nothing here
// is discovered or looked up at run time, so a component that is missing fails the build, not the start.
//
//   informers (one per kind) ── WaypointController (leader-only)
//                             ├─ MeshWatcher ── onModel ─┬─ PushComponent.update (every replica)
//                             │                          └─ status writer.update (leader-only)
//                             └─ CaComponent (root publisher) ── :15012 server ── PushComponent
//   PushComponent ── WaypointStatusReports ── status writer
//
// Components that serve clients (CA, config push, mesh model) run on every replica; reconcilers and status
// writers on the elected leader only.
import { KubeClient } from './kube/client.js';
import type { Component } from './kube/component.js';
import { InformerSet } from './kube/informers.js';
import type { KubeObject } from './kube/resources.js';
import { loadClusterAccess } from './kube/kubeconfig.js';
import { LeaderElector } from './kube/leader.js';
import { logger, setLogLevel, type Logger } from '@ambit/mesh-api';
import { istiodVersion } from './kube/istiod-version.js';
import { registry as defaultRegistry, type Registry } from './kube/metrics.js';
import { startMonitoringServer } from './kube/monitoring.js';
import { WaypointController } from './gateway/controller.js';
import { VERSION } from './install/version.js';
import { CaComponent } from './ca/index.js';
import { transformFor, MeshWatcher } from './mesh/watch.js';
import { kubeServiceAccountLookup, PushComponent } from './push/index.js';
import { WaypointStatusReports } from './push/status.js';
import { statusComponent, type StatusComponent } from './status/index.js';
import { parseControllerConfig, type ControllerConfig } from './config.js';

/** Informers replay their objects this often (the waypoint controller's and root publisher's resync). */
const RESYNC_MS = 10 * 60_000;

export interface ControlPlaneDeps {
  client: KubeClient;
  config: ControllerConfig;
  log: Logger;
  registry: Registry;
}

/** Every part of the control plane, built and wired, not started. */
export interface ControlPlane {
  config: ControllerConfig;
  informers: InformerSet;
  waypoints: WaypointController;
  ca: CaComponent;
  mesh: MeshWatcher;
  /** The config push (made when the CA's server is up: after `ca` starts). */
  readonly push: PushComponent;
  reports: WaypointStatusReports;
  status: StatusComponent;
  /** ca, config-push, mesh-model (every replica, in start order), waypoint-controller and status-writer (leader). */
  components: Component[];
}

export function createControlPlane({ client, config, log, registry }: ControlPlaneDeps): ControlPlane {
  const informers = new InformerSet(client, { log, registry, resyncMs: RESYNC_MS, transform: transformFor });
  const reports = new WaypointStatusReports();
  const status = statusComponent({ client, log, systemNamespace: config.systemNamespace, reports });
  let push: PushComponent | undefined;
  // What class `istio` Gateways' listeners read (TLS Secrets, ReferenceGrants): the mesh model's latest input.
  let lastInput: { secrets: KubeObject[]; referenceGrants: KubeObject[] } | undefined;

  const waypoints = new WaypointController({
    client,
    log,
    registry,
    informers,
    version: VERSION,
    image: config.waypointImage,
    clusterDomain: config.clusterDomain,
    istioNamespace: config.systemNamespace,
    resyncMs: RESYNC_MS,
    ingressContext: () => lastInput,
  });
  const mesh = new MeshWatcher({
    client,
    informers,
    onModel: (model, input) => {
      const next = { secrets: input.secrets ?? [], referenceGrants: input.referenceGrants ?? [] };
      const changed = !lastInput || lastInput.secrets !== next.secrets && JSON.stringify(lastInput) !== JSON.stringify(next);
      lastInput = next;
      if (changed) waypoints.ingressInputsChanged();
      push?.update(model);
      status.update(model, input);
    },
    mesh: {
      trustDomain: config.trustDomain,
      domainSuffix: config.clusterDomain,
      rootNamespace: config.systemNamespace,
      enableDryRun: config.enableDryRunAuthorizationPolicy,
    },
    log: log.child('mesh'),
  });
  const ns = config.systemNamespace;
  const ca = new CaComponent({
    client,
    informers,
    namespace: ns,
    port: config.caPort,
    trustDomain: config.trustDomain,
    trustedNodeAccounts: config.trustedNodeAccounts,
    defaultTtlSeconds: config.defaultCertTtlSeconds,
    maxTtlSeconds: config.maxCertTtlSeconds,
    servingDnsNames: ['istiod', `istiod.${ns}`, `istiod.${ns}.svc`, `istiod.${ns}.svc.${config.clusterDomain}`, 'localhost'],
    pods: mesh.podLookup(),
    log: log.child('ca'),
  });

  const components: Component[] = [
    { name: 'ca', start: () => ca.start(), stop: () => ca.stop() },
    {
      name: 'config-push',
      start: async () => {
        push = new PushComponent({
          server: ca.server,
          authenticator: ca.authenticator,
          pods: ca.pods,
          trustedNodeAccounts: config.trustedNodeAccounts,
          serviceAccounts: kubeServiceAccountLookup(client),
          reports,
          log: log.child('push'),
        });
        await push.start();
      },
      stop: async () => push?.stop(),
    },
    { name: 'mesh-model', start: () => mesh.start(), stop: () => mesh.stop(), ready: () => mesh.model !== undefined },
    { name: 'waypoint-controller', leaderOnly: true, start: () => waypoints.start(), stop: () => waypoints.stop() },
    status,
  ];
  return {
    config,
    informers,
    waypoints,
    ca,
    mesh,
    get push() {
      if (!push) throw new Error('config push not started');
      return push;
    },
    reports,
    status,
    components,
  };
}

// ---- The process -------------------------------------------------------------------------------------------

export interface ControllerOptions {
  kubeconfig?: string;
  client?: KubeClient;
  monitoringPort?: number;
  leaderElect?: boolean;
  identity?: string;
  systemNamespace?: string;
  clusterDomain?: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
  registry?: Registry;
  /** Extra components (tests). */
  components?: Component[];
  /** Only the waypoint controller: no CA, config push, mesh model or status writer (tests, benchmarks). */
  waypointsOnly?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface RunningController {
  controlPlane: ControlPlane;
  waypoints: WaypointController;
  elector?: LeaderElector;
  components: Component[];
  monitoringPort?: number;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function runController(opts: ControllerOptions = {}): Promise<RunningController> {
  const env = opts.env ?? process.env;
  const config = parseControllerConfig(env, {
    identity: opts.identity,
    systemNamespace: opts.systemNamespace,
    clusterDomain: opts.clusterDomain,
    monitoringPort: opts.monitoringPort,
  });
  setLogLevel(config.logLevel);
  const log = opts.log ?? logger('ambit');
  const registry = opts.registry ?? defaultRegistry;
  const client = opts.client ?? new KubeClient(await loadClusterAccess({ kubeconfig: opts.kubeconfig, env }));
  const cp = createControlPlane({ client, config, log, registry });
  const waypointController = cp.components.find((c) => c.name === 'waypoint-controller')!;
  const rest = opts.waypointsOnly ? [] : cp.components.filter((c) => c !== waypointController);
  const components = [waypointController, ...(opts.components ?? []), ...rest];
  const { identity, systemNamespace } = config;
  log.info('starting controller', { version: VERSION, identity, systemNamespace, components: components.map((c) => c.name).join(',') });

  let informersReady = false;
  let monitoring: Awaited<ReturnType<typeof startMonitoringServer>> | undefined;
  if (config.monitoringPort >= 0) {
    monitoring = await startMonitoringServer({
      port: config.monitoringPort,
      registry,
      routes: { '/version': () => istiodVersion(VERSION) },
      ready: () => informersReady && components.every((c) => c.ready?.() ?? true),
    });
    log.info('monitoring server listening', { port: monitoring.port });
  }

  const shutdown = new AbortController();
  // Components that run everywhere.
  for (const c of components.filter((c) => !c.leaderOnly)) await c.start(shutdown.signal);
  // Warm caches on every replica so a standby takes over fast.
  await cp.waypoints.startInformers();
  informersReady = true;

  const leaderOnly = components.filter((c) => c.leaderOnly);
  let elector: LeaderElector | undefined;
  let leading = false;
  if (opts.leaderElect === false) {
    leading = true;
    for (const c of leaderOnly) await c.start(shutdown.signal);
  } else {
    elector = new LeaderElector(client, {
      namespace: systemNamespace,
      name: opts.leaseName ?? 'istio-gateway-deployment-default',
      identity,
      leaseDurationSeconds: opts.leaseDurationSeconds,
      renewDeadlineMs: opts.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs,
      log,
      registry,
    });
    elector.start({
      onStartedLeading: async (signal) => {
        leading = true;
        for (const c of leaderOnly) await c.start(signal);
      },
      onStoppedLeading: async () => {
        leading = false;
        for (const c of leaderOnly) await c.stop();
      },
    });
  }

  return {
    controlPlane: cp,
    waypoints: cp.waypoints,
    elector,
    components,
    monitoringPort: monitoring?.port,
    isLeader: () => leading,
    async stop() {
      shutdown.abort();
      if (elector) await elector.stop();
      else for (const c of leaderOnly) await c.stop();
      for (const c of components.filter((c) => !c.leaderOnly)) await c.stop();
      await cp.waypoints.stop(true);
      await cp.informers.stop();
      await monitoring?.close();
      client.close();
      log.info('controller stopped');
    },
  };
}
