// Virtual nodes: one OS process per node (test/cluster/dist/src/node/main.js, the node agent), configured by a
// JSON file this module writes. The agent prints `node <name> ready` once its Node is registered.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertFiles } from '../pki.js';
import type { NodeConfigFile } from '../node/config.js';
import { ManagedProcess } from './process.js';
import { imagesFile, net, nodeBinary, nodeMain, ports, repoRoot } from './paths.js';

/** The contract with the node agent: the file test/cluster/src/node/config.ts reads. */
export type VirtualNodeConfig = NodeConfigFile;

export interface NodeLaunch {
  name: string;
  address: string;
  kubeconfigPath: string;
  kubeletCert: CertFiles;
  caFile: string;
  clusterStateDir: string;
  binDir: string;
}

export async function writeNodeConfig(n: NodeLaunch): Promise<{ configPath: string; config: VirtualNodeConfig }> {
  const stateDir = join(n.clusterStateDir, 'nodes', n.name);
  await mkdir(stateDir, { recursive: true });
  const config: VirtualNodeConfig = {
    name: n.name,
    kubeconfigPath: n.kubeconfigPath,
    address: n.address,
    kubeletPort: ports.kubelet,
    tls: { certFile: n.kubeletCert.certFile, keyFile: n.kubeletCert.keyFile, caFile: n.caFile },
    bridge: net.bridge,
    gateway: net.gateway,
    podNetworkPrefix: Number(net.bridgeCidr.split('/')[1]),
    clusterDNS: net.dnsServiceIP,
    clusterDomain: net.clusterDomain,
    stateDir,
    imagesFile,
    binDir: n.binDir,
    repoRoot,
  };
  const configPath = join(n.clusterStateDir, 'nodes', `${n.name}.json`);
  await writeFile(configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return { configPath, config };
}

/** Start the node agent; `ready` resolves when it prints `node <name> ready`, rejects if it exits first. */
export function launchNode(
  name: string,
  configPath: string,
  logFile: string,
  onUnexpectedExit: (p: ManagedProcess) => void,
): { proc: ManagedProcess; ready: Promise<void> } {
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const proc = new ManagedProcess(
    {
      name: `node ${name}`,
      cmd: nodeBinary,
      args: ['--enable-source-maps', nodeMain, '--config', configPath],
      logFile,
      onStdoutLine: (line) => {
        if (line.trim() === `node ${name} ready`) markReady();
      },
    },
    onUnexpectedExit,
  );
  const exitedEarly = proc.exited.then((e) => {
    throw new Error(`node agent ${name} exited (code ${e.code}, signal ${e.signal}) before it was ready; see ${logFile}`);
  });
  return { proc, ready: Promise.race([ready, exitedEarly]) };
}
