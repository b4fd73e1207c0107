// Fixed locations and addresses of the local cluster (see docs/CONTRIBUTING.md, "The local cluster").
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/cluster (the package root), found from this compiled file: test/cluster/dist/src/controlplane/paths.js. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const repoRoot = resolve(packageRoot, '..', '..');
export const buildScript = join(repoRoot, 'test', 'k8s', 'build.sh');
export const crdsModuleDir = join(repoRoot, 'crds');
export const ambitCrdsDir = join(repoRoot, 'crds', 'ambit');
export const ambitDir = join(repoRoot, '.ambit');
export const defaultStateDir = join(ambitDir, 'cluster');
export const cliKubeconfig = join(ambitDir, 'kubeconfig');
export const supervisorPidFile = join(ambitDir, 'supervisor.pid');
export const supervisorLog = join(ambitDir, 'supervisor.log');
/** Machine-wide marker of the one running cluster (bridge, ports and chain names are machine-wide). */
export const machineLockFile = '/run/ambit-cluster.json';
/** The repository's Node (npm package `node`, Node 24), else the one running this code. */
export const nodeBinary = existsSync(join(repoRoot, 'node_modules', 'node', 'bin', 'node'))
  ? join(repoRoot, 'node_modules', 'node', 'bin', 'node')
  : process.execPath;
/** Where the pinned builds are cached (AMBIT_CACHE, as test/k8s/build.sh and test/node/build.sh read it). */
export const cacheRoot = process.env.AMBIT_CACHE ?? '/var/cache/ambit';
/** The Kubernetes binaries test/k8s/build.sh builds, one folder per pinned version set: `<cacheRoot>/bin/k8s-<key>`. */
export const binCacheDir = join(cacheRoot, 'bin');
/** The Go module cache the builds and the upstream CRDs use (the build scripts set GOMODCACHE to it). */
export const goModCache = join(cacheRoot, 'go', 'mod');

export const net = {
  bridge: 'ambit0',
  gateway: '10.244.0.1',
  bridgeCidr: '10.244.0.1/16',
  clusterCidr: '10.244.0.0/16',
  /** The bridge's subnet inside the cluster CIDR: never a node's pod CIDR. */
  reservedPodSubnet: '10.244.0.0/24',
  serviceCidr: '10.96.0.0/16',
  kubernetesServiceIP: '10.96.0.1',
  dnsServiceIP: '10.96.0.10',
  /**
   * Addresses for Services of type LoadBalancer (status.loadBalancer.ingress), as kind's cloud provider or
   * MetalLB give: routed to the pod bridge from this machine; outside the pod, node and Service ranges.
   */
  loadBalancerCidr: '10.245.0.0/24',
  clusterDomain: 'cluster.local',
};

export const ports = {
  etcdClient: 12379,
  etcdPeer: 12380,
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  kubeProxyHealthz: 10256,
  kubeProxyMetrics: 10249,
  kubelet: 10250,
};

/** Node N's pod CIDR (allocated by kube-controller-manager in registration order). */
export const nodePodCidr = (n: number) => `10.244.${n}.0/24`;
export const nodeName = (n: number) => `ambit-node-${n}`;
