// Wiring of the kubelet HTTPS server (test/cluster/src/kubelet, `kubectl exec`/`kubectl logs`) to this agent's runtime.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConfig } from './config.js';
import type { Log } from './log.js';
import type { ContainerRuntime } from './runtime.js';

interface KubeletServerModule {
  startKubeletServer(opts: {
    host: string;
    port: number;
    tls: { certFile: string; keyFile: string; caFile: string };
    runtime: ContainerRuntime;
    log: Log;
    nodeName?: string;
  }): Promise<{ close(): unknown }> | { close(): unknown };
}

export async function startKubelet(cfg: NodeConfig, runtime: ContainerRuntime, log: Log): Promise<{ close(): Promise<void> }> {
  const modPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'kubelet', 'index.js');
  if (!existsSync(modPath)) {
    log(`kubelet server not built (${modPath} missing): exec and logs unavailable`);
    return { close: async () => undefined };
  }
  const mod = (await import(modPath)) as KubeletServerModule;
  const server = await mod.startKubeletServer({ host: cfg.address, port: cfg.kubeletPort, tls: cfg.tls, runtime, log, nodeName: cfg.name });
  log(`kubelet server listening on https://${cfg.address}:${cfg.kubeletPort}`);
  return { close: async () => void (await server.close()) };
}
