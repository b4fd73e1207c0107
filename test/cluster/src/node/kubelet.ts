// Wiring of the kubelet HTTPS server (test/cluster/src/kubelet: `kubectl exec`, `kubectl logs`) to this agent's
// runtime. Loaded dynamically so a broken or missing server costs exec/logs, not the whole node.
import type { KubeletServer, KubeletServerOptions } from '../kubelet/index.js';
import type { NodeConfig } from './config.js';
import type { Log } from './log.js';
import type { ContainerRef, ContainerRuntime } from './runtime.js';

export async function startKubelet(
  cfg: NodeConfig,
  runtime: ContainerRuntime & { hasContainer(ref: ContainerRef): boolean },
  log: Log,
): Promise<{ close(): Promise<void> }> {
  let mod: { startKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> };
  try {
    mod = (await import('../kubelet/index.js')) as typeof mod;
  } catch (err) {
    log(`kubelet server unavailable (${(err as Error).message}): exec and logs will not work on this node`);
    return { close: async () => undefined };
  }
  let server: KubeletServer;
  try {
    server = await mod.startKubeletServer({
      host: cfg.address,
      port: cfg.kubeletPort,
      tls: cfg.tls,
      runtime,
      log,
      nodeName: cfg.name,
      hasContainer: (ref) => runtime.hasContainer(ref),
    });
  } catch (err) {
    log(`kubelet server failed to start (${(err as Error).message}): exec and logs will not work on this node`);
    return { close: async () => undefined };
  }
  log(`kubelet server listening on https://${cfg.address}:${server.port}`);
  return { close: () => server.close() };
}
