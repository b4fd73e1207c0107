// @ambit/cluster: a single-machine Kubernetes cluster from real parts (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kube-proxy, real nodes, CoreDNS).
export { buildControlPlane } from './controlplane/build.js';
export { startCluster, connectCluster, readMachineLock } from './cluster.js';
export type { Cluster, ClusterOptions, ClusterRecord, KubectlOptions } from './cluster.js';
export { installUpstreamCRDs, upstreamCRDFiles, GATEWAY_API_MODULE, ISTIO_API_MODULE } from './crds/upstream.js';
export type { InstallCRDsOptions } from './crds/upstream.js';
export { cleanupLeftovers } from './controlplane/cleanup.js';
export { COREDNS_IMAGE } from './controlplane/addons.js';
export { net as clusterNetwork, cacheRoot, binCacheDir, goModCache } from './controlplane/paths.js';
export { waitFor } from './controlplane/exec.js';
export type { RunResult } from './controlplane/exec.js';
export { podNetnsPath } from './realnode/pod-netns.js';
export { MeshFixture, exec as execFileAsync, repo as repoRoot, sleep, type KubectlResult } from './mesh-fixture.js';
export { serverManifest, type ServerManifestOptions } from './manifests.js';
export { openMeshCluster, openTestCluster, type MeshClusterOptions, type TestCluster, type TestClusterOptions } from './mesh-cluster.js';
export { createShell, type Shell, type ShellResult } from './shell.js';
