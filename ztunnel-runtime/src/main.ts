#!/usr/bin/env node
// ztunnel entrypoint.
//   Shared (in-pod) mode, the DaemonSet's: `PROXY_MODE=shared`, the default when NODE_NAME is set and no config file
//   is given. Certificates from the controller's CA (CA_ADDRESS), the mesh model from its push stream (XDS_ADDRESS),
//   pods only from the node agent DaemonSet over ZDS (ZDS_SOCKET, default /var/run/ztunnel/ztunnel.sock), a proxy
//   inside each enrolled pod's netns (src/node). No Kubernetes API access.
//   Node-agent mode, the istio-cni-node DaemonSet's: first argument `cni-agent` (src/cni/run.ts): installs the chained
//   CNI plugin, serves its events, programs enrolled pods' netns and hands them to ztunnel over ZDS.
//   Explicit mode: `node dist/src/main.js --config ztunnel.yaml` (or ZTUNNEL_CONFIG), with the mesh model from
//   LOCAL_XDS_PATH / LOCAL_XDS / `localXdsPath`.
// Log level: AMBIT_LOG_LEVEL, else ZTUNNEL_LOG_LEVEL, else LOG_LEVEL (error|warn|info|debug|off, default info).
// SIGTERM/SIGINT drain gracefully (drain deadline DRAIN_DEADLINE_MS, default 5 s) then exit 0.
// Each mode imports only what it uses. @kubernetes/client-node (~50 MB of RSS) is loaded only in node-agent mode,
// whose informers and patches need it; `--kubeconfig` (or KUBECONFIG) is read only there.
import type { KubeConfig } from '@kubernetes/client-node';
import { loadZtunnelConfig } from './config/config.js';
import { LOG_LEVEL_ENV, levelFromEnv, logger, setLogLevel } from '@ambit/mesh-api';
import { Ztunnel } from './ztunnel.js';

const log = logger('ztunnel');
// The log core has applied AMBIT_LOG_LEVEL (and warned about a bad value); without it, Istio's ztunnel's
// ZTUNNEL_LOG_LEVEL, then LOG_LEVEL.
if (!process.env[LOG_LEVEL_ENV]) {
  const logLevel = levelFromEnv(process.env, ['ZTUNNEL_LOG_LEVEL', 'LOG_LEVEL']);
  setLogLevel(logLevel.level);
  if (logLevel.problem) log.warn(logLevel.problem);
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

/**
 * Node-agent mode's API access. In a pod: the service account and the API server from the environment; elsewhere
 * `--kubeconfig`, KUBECONFIG or ~/.kube/config.
 */
async function kubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const explicit = argValue('--kubeconfig') ?? process.env.KUBECONFIG;
  if (explicit) kc.loadFromFile(explicit);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

function onSignals(stop: (sig: string) => Promise<void>): void {
  let stopping = false;
  const handler = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`received ${sig}, draining`);
    stop(sig).then(
      () => process.exit(0),
      (e) => {
        log.error(`drain failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

async function runShared(): Promise<void> {
  const { describeConfig, parseSharedConfig } = await import('./node/config.js');
  const { NodeProxy } = await import('./node/node-proxy.js');
  const config = parseSharedConfig(process.env);
  if (process.env.LOCAL_XDS_PATH) config.localXdsPath = process.env.LOCAL_XDS_PATH;
  log.info(`running with config: ${describeConfig(config)}`);
  const proxy = new NodeProxy({ config });
  onSignals(() => proxy.stop());
  const ports = await proxy.start();
  if (process.send) process.send({ ready: true, ports });
}

async function runExplicit(path: string | undefined): Promise<void> {
  const config = loadZtunnelConfig(path);
  log.info(`running with config: ${JSON.stringify({ ...config, localXds: config.localXds ? '<inline>' : undefined })}`);
  if (config.mode !== 'explicit') throw new Error(`mode ${config.mode} needs PROXY_MODE=shared and NODE_NAME (in a cluster), not a config file`);
  const zt = new Ztunnel(config);
  onSignals(async () => {
    await zt.drain();
    await zt.stop();
  });
  const ports = await zt.start();
  log.info('ready', `ports=${JSON.stringify(ports)} workloads=${zt.store.workloads.size} policies=${zt.store.policies.size}`);
  // For parent processes (bench, tests) that need the ports.
  if (process.send) process.send({ ready: true, ports });
}

async function runCniAgentMode(): Promise<void> {
  const { runCniAgent } = await import('./cni/run.js');
  const agent = await runCniAgent(process.env, await kubeConfig());
  onSignals(() => agent.stop());
  if (process.send) process.send({ ready: true });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'cni-agent') return runCniAgentMode();
  const configPath = argValue('--config') ?? process.env.ZTUNNEL_CONFIG;
  const mode = (process.env.PROXY_MODE ?? (process.env.NODE_NAME && !configPath ? 'shared' : 'explicit')).toLowerCase();
  if (mode === 'shared') await runShared();
  else if (mode === 'explicit') await runExplicit(configPath);
  else throw new Error(`PROXY_MODE=${mode} is not supported (shared | explicit)`);
}

main().catch((e) => {
  log.error(`fatal: ${(e as Error).message}`);
  process.exit(1);
});
