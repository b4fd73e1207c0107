// Where a real node of the local cluster keeps its files, and which standard paths it sees as its own.
// Each node runs in a mount namespace of its own (as kind's nodes run in containers): the paths below are
// bind-mounted there from the node's directory, so the kubelet, containerd, the CNI plugins and every hostPath
// volume see `/etc/cni/net.d`, `/opt/cni/bin`, `/var/run/netns`... as on any node, and two nodes never collide.
import { join } from 'node:path';

/** The node's own copies of the standard node paths (mount target -> folder under the node's root). */
export const NODE_PATHS = [
  '/etc/cni/net.d',
  '/opt/cni/bin',
  '/var/lib/kubelet',
  '/var/lib/containerd',
  '/var/lib/cni',
  '/var/log/pods',
  '/var/log/containers',
  '/run/containerd',
  '/run/netns',
  // Istio's node-agent sockets (istio-cni's plugin events, ztunnel's ZDS): per node, as on separate machines.
  '/run/istio-cni',
  '/run/ztunnel',
] as const;

export interface NodeLayout {
  name: string;
  /** 1-based index: node N. */
  index: number;
  /** <cluster state>/nodes/<name> */
  dir: string;
  /** The file the node's mount namespace is pinned to (inside the private `nodes` folder). */
  mountNs: string;
  /** Folder whose sub-folders back NODE_PATHS. */
  root: string;
  containerdConfig: string;
  kubeletConfig: string;
  kubeconfig: string;
  resolvConf: string;
  /** cgroup parent of everything the node runs (cgroupRoot), in every v1 hierarchy. */
  cgroupRoot: string;
  /** The node's InternalIP (a secondary address of the pod bridge: the kubelet refuses loopback). */
  address: string;
  logFile: (component: string) => string;
}

export function nodeLayout(clusterStateDir: string, name: string, index: number, address: string): NodeLayout {
  const dir = join(clusterStateDir, 'nodes', name);
  return {
    name,
    index,
    dir,
    mountNs: join(clusterStateDir, 'nodes', `${name}.mnt`),
    root: join(dir, 'root'),
    containerdConfig: join(dir, 'containerd.toml'),
    kubeletConfig: join(dir, 'kubelet.yaml'),
    kubeconfig: join(dir, 'kubelet.kubeconfig'),
    resolvConf: join(dir, 'resolv.conf'),
    cgroupRoot: `/${name}`,
    address,
    logFile: (component) => join(clusterStateDir, 'logs', `${name}-${component}.log`),
  };
}

/** The folder that backs `path` for this node. */
export function backing(layout: NodeLayout, path: string): string {
  return join(layout.root, path);
}
