// `cni-agent` mode (the istio-cni-node DaemonSet): wires the pieces in Istio's order. The plugin-event socket comes
// up first, then the informers (pods already running are enrolled again, which also remembers them for ZDS), then
// the ZDS server: a ztunnel that reconnects after an agent restart gets a complete snapshot and drops nothing it
// still serves. Only then is the plugin installed into the CNI config. Ready (READY_FILE, read by the exec
// readiness probe) while the plugin is in the config and the socket listens.
// SIGTERM: if the DaemonSet is gone or being deleted it is an uninstall (Istio's rule): plugin entry, files and
// kubeconfig removed, pods un-enrolled, probe chain removed. Otherwise (restart, upgrade) everything stays.
import fs from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { logger } from '@ambit/mesh-api';
import { ZdsServer } from '../zds/index.js';
import { CniAgent, daemonSetBeingRemoved } from './cni-agent.js';
import { type CniAgentConfig, parseCniAgentConfig } from './config.js';
import { PluginEventServer } from './event-server.js';
import { CniInstaller } from './installer.js';
import { serviceAccountSource } from './kubeconfig.js';
import { ProbeSnat, detectHostIptables } from './probe-snat.js';

const log = logger('cni');

export interface RunningCniAgent {
  config: CniAgentConfig;
  /** SIGTERM's work: uninstall when the DaemonSet is being removed, else leave everything in place. */
  stop(): Promise<void>;
}

/** Programmatic overrides (tests): where the service account files are, which Node to copy. */
export interface RunCniAgentOptions {
  serviceAccountDir?: string;
  nodeBinary?: string;
  bundleLibraries?: boolean;
}

export async function runCniAgent(env: NodeJS.ProcessEnv, kubeConfig: KubeConfig, opts: RunCniAgentOptions = {}): Promise<RunningCniAgent> {
  const config = parseCniAgentConfig(env);
  log.info(`cni agent starting: ${JSON.stringify({ ...config })}`);
  fs.rmSync(config.readyFile, { force: true });
  const zds = new ZdsServer({ socketPath: config.zdsSocket, log: logger('cni::zds') });
  const agent = new CniAgent({
    nodeName: config.nodeName,
    kubeConfig,
    zds,
    probeSnat: config.probeSnat ? new ProbeSnat({ nodeName: config.nodeName, iptables: (await detectHostIptables()).runner }) : null,
  });
  const server = new PluginEventServer({
    socketPath: config.eventSocket,
    handlers: { onAdd: (ev) => agent.handleAdd(ev), onDel: (ev) => agent.handleDel(ev) },
  });
  const setReady = (ready: boolean) => {
    if (ready && server.listening) fs.writeFileSync(config.readyFile, 'ready\n');
    else fs.rmSync(config.readyFile, { force: true });
    log.info(ready ? 'ready: plugin installed, plugin event socket listening' : 'not ready: the plugin is not in the CNI config');
  };
  const installer = new CniInstaller({
    binDir: config.mountedBinDir,
    confDir: config.mountedConfDir,
    hostConfDir: config.hostConfDir,
    eventSocket: config.eventSocket,
    excludeNamespaces: config.excludeNamespaces,
    kubeconfigSource: () => serviceAccountSource(env, opts.serviceAccountDir),
    ...(opts.nodeBinary ? { nodeBinary: opts.nodeBinary } : {}),
    ...(opts.bundleLibraries !== undefined ? { bundleLibraries: opts.bundleLibraries } : {}),
    onReadyChange: setReady,
  });
  await server.start();
  await agent.start();
  await zds.start();
  await installer.start();
  return {
    config,
    async stop() {
      installer.stop();
      fs.rmSync(config.readyFile, { force: true });
      const uninstall = await daemonSetBeingRemoved(kubeConfig, config.namespace, config.daemonSetName);
      if (uninstall) {
        log.info(`DaemonSet ${config.namespace}/${config.daemonSetName} is gone or being deleted: uninstalling the CNI plugin`);
        installer.uninstall();
        await agent.stop({ uninstall: true });
      } else {
        log.info('agent stopping (restart or upgrade): the plugin stays installed and pods stay redirected');
        await agent.stop();
      }
      await server.stop();
      await zds.stop();
    },
  };
}
