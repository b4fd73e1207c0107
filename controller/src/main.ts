#!/usr/bin/env node
// The controller process (istiod's role): the waypoint Gateway controller plus the components other parts of the
// controller package contribute (CA, config push, mesh model). Leader-elected reconcilers, Prometheus metrics and
// health on the monitoring port, structured logs on stderr.
//
//   node controller/dist/src/main.js [--kubeconfig FILE] [--monitoring-port 15014] [--no-leader-elect]
//
// Environment: POD_NAME, POD_NAMESPACE (system namespace, default istio-system), CLUSTER_DOMAIN (cluster.local),
// AMBIT_LOG_LEVEL, AMBIT_WAYPOINT_IMAGE.
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { KubeClient } from './kube/client.js';
import type { Component, ComponentContext, ComponentFactory } from './kube/component.js';
import { loadClusterAccess } from './kube/kubeconfig.js';
import { LeaderElector } from './kube/leader.js';
import { createLogger, type Logger } from './kube/log.js';
import { registry as defaultRegistry, startMonitoringServer, type Registry } from './kube/metrics.js';
import { WaypointController } from './gateway/controller.js';
import { VERSION } from './install/version.js';

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
  /** Skip discovering src/{ca,push,mesh} components. */
  noDiscovery?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface RunningController {
  waypoints: WaypointController;
  elector?: LeaderElector;
  components: Component[];
  monitoringPort?: number;
  isLeader(): boolean;
  stop(): Promise<void>;
}

// ---- Component hook -------------------------------------------------------------------------------------------
// Other parts of @ambit/controller plug in here without editing this file: a module `src/<dir>/index.ts` for a dir
// in COMPONENT_DIRS that exports `createComponents: ComponentFactory` (see src/kube/component.ts) has its components
// started with the controller. Leader-only components run on the elected replica only.
const COMPONENT_DIRS = ['ca', 'push', 'mesh'];

async function discoverComponents(ctx: ComponentContext): Promise<Component[]> {
  const found: Component[] = [];
  for (const dir of COMPONENT_DIRS) {
    const url = new URL(`./${dir}/index.js`, import.meta.url);
    let mod: { createComponents?: ComponentFactory };
    try {
      mod = (await import(url.href)) as { createComponents?: ComponentFactory };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { url?: string };
      if (e.code === 'ERR_MODULE_NOT_FOUND' && (e.url === url.href || String(e.message).includes(url.pathname))) continue;
      throw err;
    }
    if (typeof mod.createComponents === 'function') found.push(...(await mod.createComponents(ctx)));
  }
  return found;
}
// -----------------------------------------------------------------------------------------------------------------

export async function runController(opts: ControllerOptions = {}): Promise<RunningController> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? createLogger('ambit');
  const registry = opts.registry ?? defaultRegistry;
  const client = opts.client ?? new KubeClient(loadClusterAccess({ kubeconfig: opts.kubeconfig, env }));
  const systemNamespace = opts.systemNamespace ?? env.POD_NAMESPACE ?? 'istio-system';
  const clusterDomain = opts.clusterDomain ?? env.CLUSTER_DOMAIN ?? 'cluster.local';
  const identity = opts.identity ?? env.POD_NAME ?? `${hostname()}_${process.pid}`;
  const ctx: ComponentContext = { client, log, registry, systemNamespace, clusterDomain, version: VERSION, env, kubeconfig: opts.kubeconfig };

  const waypoints = new WaypointController({
    client,
    log,
    registry,
    version: VERSION,
    image: env.AMBIT_WAYPOINT_IMAGE || undefined,
    clusterDomain,
    istioNamespace: systemNamespace,
    resyncMs: 10 * 60_000,
  });
  const waypointComponent: Component = {
    name: 'waypoint-controller',
    leaderOnly: true,
    start: () => waypoints.start(),
    stop: () => waypoints.stop(),
  };
  const components: Component[] = [waypointComponent, ...(opts.components ?? []), ...(opts.noDiscovery ? [] : await discoverComponents(ctx))];
  log.info('starting controller', { version: VERSION, identity, systemNamespace, components: components.map((c) => c.name).join(',') });

  let informersReady = false;
  let monitoring: Awaited<ReturnType<typeof startMonitoringServer>> | undefined;
  const port = opts.monitoringPort ?? Number(env.AMBIT_MONITORING_PORT ?? 15014);
  if (port >= 0) {
    monitoring = await startMonitoringServer({ port, registry, ready: () => informersReady && components.every((c) => c.ready?.() ?? true) });
    const addr = monitoring.address();
    log.info('monitoring server listening', { port: typeof addr === 'object' && addr ? addr.port : port });
  }

  const shutdown = new AbortController();
  // Components that run everywhere.
  for (const c of components.filter((c) => !c.leaderOnly)) await c.start(shutdown.signal);
  // Warm caches on every replica so a standby takes over fast.
  await waypoints.startInformers();
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
    waypoints,
    elector,
    components,
    monitoringPort: monitoring ? (monitoring.address() as { port: number }).port : undefined,
    isLeader: () => leading,
    async stop() {
      shutdown.abort();
      if (elector) await elector.stop();
      else for (const c of leaderOnly) await c.stop();
      for (const c of components.filter((c) => !c.leaderOnly)) await c.stop();
      await waypoints.stop(true);
      monitoring?.close();
      monitoring?.closeAllConnections();
      client.close();
      log.info('controller stopped');
    },
  };
}

function parseArgs(argv: string[]): ControllerOptions {
  const o: ControllerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const eq = a.indexOf('=');
      return eq > 0 ? a.slice(eq + 1) : argv[++i];
    };
    if (a.startsWith('--kubeconfig')) o.kubeconfig = val();
    else if (a.startsWith('--monitoring-port')) o.monitoringPort = Number(val());
    else if (a === '--no-leader-elect') o.leaderElect = false;
    else if (a.startsWith('--leader-elect')) o.leaderElect = a.includes('=') ? val() !== 'false' : true;
    else if (a.startsWith('--identity')) o.identity = val();
    else if (a.startsWith('--namespace')) o.systemNamespace = val();
    else if (a.startsWith('--lease-duration')) o.leaseDurationSeconds = Number(val());
    else if (a === '--no-components') o.noDiscovery = true; // only the waypoint controller (tests, benchmarks)
    else if (a === 'discovery' || a === '--') continue; // istiod-style `pilot-discovery discovery`
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: main.js [--kubeconfig FILE] [--monitoring-port N] [--no-leader-elect] [--identity ID] [--namespace NS] [--lease-duration SECONDS] [--no-components]\n');
      process.exit(0);
    }
  }
  return o;
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const log = createLogger('ambit');
  runController({ ...parseArgs(process.argv.slice(2)), log })
    .then((ctl) => {
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info('shutting down', { signal: sig });
        ctl.stop().finally(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    })
    .catch((err) => {
      log.error('controller failed to start', { err });
      process.exit(1);
    });
}
