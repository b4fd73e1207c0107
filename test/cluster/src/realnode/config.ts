// The configuration files of a real node: containerd (config version 3, containerd 2.x), the kubelet
// (KubeletConfiguration) and the pod network (a CNI conflist: bridge + host-local + portmap). Pure renderers: the
// settings this machine needs are explained where they are set (see ../../../../docs or real-node-probe.md).
import { stringify } from 'yaml';

export interface ContainerdSettings {
  sandboxImage: string;
  runcBinary: string;
}

/**
 * containerd inside the node's mount namespace: default root, state and socket paths (they are the node's own).
 * `restrict_oom_score_adj`: these machines lack CAP_SYS_RESOURCE, so runc cannot lower a sandbox's oom_score_adj
 * ("can't get final child's PID from pipe: EOF" on every pod) unless containerd raises negative scores to its own.
 * NRI and CDI are off: their default sockets and spec folders are machine-wide.
 */
export function renderContainerdConfig(s: ContainerdSettings): string {
  return `version = 3
disabled_plugins = ["io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs", "io.containerd.differ.v1.erofs", "io.containerd.mount-handler.v1.erofs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[plugins]
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${JSON.stringify(s.sandboxImage)}
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    enable_cdi = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = ${JSON.stringify(s.runcBinary)}
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/opt/cni/bin"]
      conf_dir = "/etc/cni/net.d"
      max_conf_num = 1
`;
}

export interface KubeletSettings {
  address: string;
  cgroupRoot: string;
  clusterDNS: string;
  clusterDomain: string;
  resolvConf: string;
  clientCAFile: string;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
}

/** KubeletConfiguration for one node; both kubelets listen on their own node address, port 10250. */
export function renderKubeletConfig(s: KubeletSettings): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // These machines run cgroup v1: since 1.35 the kubelet refuses to start on it unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: s.cgroupRoot,
    cgroupsPerQOS: true,
    containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    address: s.address,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: s.address,
    healthzPort: 10248,
    tlsCertFile: s.tlsCertFile,
    tlsPrivateKeyFile: s.tlsPrivateKeyFile,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: s.clientCAFile } },
    authorization: { mode: 'Webhook' },
    clusterDNS: [s.clusterDNS],
    clusterDomain: s.clusterDomain,
    resolvConf: s.resolvConf,
    // No iptables chains of the kubelet's own (KUBE-FIREWALL and friends): kube-proxy's are enough here.
    makeIPTablesUtilChains: false,
    // false: the kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops itself (restored at stop).
    protectKernelDefaults: false,
    // No CAP_SYS_RESOURCE on these machines: the default -999 cannot be written.
    oomScoreAdj: 0,
    failSwapOn: false,
    serializeImagePulls: false,
    // The local cluster has no registry: every image is loaded into containerd beforehand.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 98,
    imageGCLowThresholdPercent: 95,
    // Pods go away quickly when a test deletes them.
    shutdownGracePeriod: '0s',
    syncFrequency: '10s',
    fileCheckFrequency: '5s',
    nodeStatusUpdateFrequency: '5s',
  });
}

export interface PodNetworkSettings {
  bridge: string;
  /** The cluster CIDR, shared by every node on the one bridge (pods of all nodes are on one L2 segment). */
  clusterCidr: string;
  /** This node's podCIDR (from kube-controller-manager): the node hands out addresses from it. */
  podCidr: string;
  gateway: string;
}

/**
 * The primary CNI config: pods get an address from the node's podCIDR but the whole cluster CIDR on-link (one
 * bridge for every node, so pod-to-pod traffic across nodes needs no routes) and a default route to the bridge.
 * isGateway stays false: with it the bridge plugin turns on net.ipv4.ip_forward machine-wide on its own.
 */
export function renderCniConflist(s: PodNetworkSettings): string {
  const [base, bits] = s.podCidr.split('/');
  if (bits !== '24' || !base?.endsWith('.0')) throw new Error(`podCIDR ${s.podCidr}: the local cluster expects a /24`);
  const prefix = base.slice(0, -1);
  return (
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'ambit',
        plugins: [
          {
            type: 'bridge',
            bridge: s.bridge,
            isGateway: false,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: s.clusterCidr, rangeStart: `${prefix}2`, rangeEnd: `${prefix}254`, gateway: s.gateway }]],
              routes: [{ dst: '0.0.0.0/0', gw: s.gateway }],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}
