// The node agent's configuration file, written by the cluster harness (one per virtual node).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NodeConfig {
  name: string;
  kubeconfigPath: string;
  /** Address the apiserver dials for the kubelet endpoint; reported as the node's InternalIP. */
  address: string;
  kubeletPort: number;
  tls: { certFile: string; keyFile: string; caFile: string };
  bridge: string;
  /** Network namespace names are <netnsPrefix><pod uid>; `ambit-` (the default) is the cluster's contract. */
  netnsPrefix: string;
  gateway: string;
  /** Prefix length of the pod network on the bridge (10.244.0.0/16). */
  podNetworkPrefix: number;
  clusterDNS: string;
  clusterDomain: string;
  stateDir: string;
  imagesFile: string;
  binDir: string;
  /** Repository root: `node` images name scripts relative to it. */
  repoRoot: string;
  /** Extra Node labels and taints (optional; e.g. a test node that only tolerating pods use). */
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
}

/** The file as the cluster harness writes it: the fields with defaults may be left out. */
export type NodeConfigFile = Omit<NodeConfig, 'netnsPrefix' | 'labels' | 'taints'> & Partial<Pick<NodeConfig, 'netnsPrefix' | 'labels' | 'taints'>>;

/** The repository root, from this file's place in test/cluster/dist/src/node. */
export function defaultRepoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
}

export function loadNodeConfig(file: string): NodeConfig {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<NodeConfig>;
  const need = ['name', 'kubeconfigPath', 'address', 'kubeletPort', 'stateDir'] as const;
  for (const key of need) {
    if (raw[key] === undefined || raw[key] === '') throw new Error(`node config ${file}: missing "${key}"`);
  }
  const repoRoot = raw.repoRoot ?? defaultRepoRoot();
  return {
    name: raw.name!,
    kubeconfigPath: raw.kubeconfigPath!,
    address: raw.address!,
    kubeletPort: Number(raw.kubeletPort),
    tls: raw.tls ?? { certFile: '', keyFile: '', caFile: '' },
    bridge: raw.bridge ?? 'ambit0',
    netnsPrefix: raw.netnsPrefix ?? 'ambit-',
    gateway: raw.gateway ?? '10.244.0.1',
    podNetworkPrefix: raw.podNetworkPrefix ?? 16,
    clusterDNS: raw.clusterDNS ?? '10.96.0.10',
    clusterDomain: raw.clusterDomain ?? 'cluster.local',
    stateDir: raw.stateDir!,
    imagesFile: raw.imagesFile ?? join(repoRoot, 'test/cluster/images.json'),
    binDir: raw.binDir ?? '',
    repoRoot,
    labels: raw.labels ?? {},
    taints: raw.taints ?? [],
  };
}
