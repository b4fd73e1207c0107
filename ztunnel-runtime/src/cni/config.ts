// The node agent's settings from its environment (the istio-cni-node DaemonSet sets them; the defaults are Istio's
// paths). Bad values fail at start with one line naming the variable and the fix.
import { DEFAULT_EVENT_SOCKET } from './plugin/config.js';

export interface CniAgentConfig {
  nodeName: string;
  /** The agent's namespace (POD_NAMESPACE): never blocked by the plugin, and where its DaemonSet lives. */
  namespace: string;
  daemonSetName: string;
  /** Host CNI bin dir as mounted in the pod. */
  mountedBinDir: string;
  /** Host CNI config dir as mounted in the pod. */
  mountedConfDir: string;
  /** The config dir's host path (written into the plugin's entry). */
  hostConfDir: string;
  eventSocket: string;
  zdsSocket: string;
  excludeNamespaces: string[];
  readyFile: string;
  probeSnat: boolean;
}

export class CniAgentConfigError extends Error {}

function absPath(env: NodeJS.ProcessEnv, name: string, def: string): string {
  const v = env[name]?.trim() || def;
  if (!v.startsWith('/')) throw new CniAgentConfigError(`${name}=${v} must be an absolute path`);
  return v.replace(/\/+$/, '') || '/';
}

export function parseCniAgentConfig(env: NodeJS.ProcessEnv): CniAgentConfig {
  const nodeName = env.NODE_NAME?.trim();
  if (!nodeName) throw new CniAgentConfigError('NODE_NAME is not set: set it from the pod spec (fieldRef spec.nodeName)');
  const namespace = env.POD_NAMESPACE?.trim() || 'istio-system';
  const exclude = (env.EXCLUDE_NAMESPACES ?? `kube-system,${namespace}`)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const snat = (env.PROBE_SNAT ?? 'true').trim().toLowerCase();
  if (!['true', 'false'].includes(snat)) throw new CniAgentConfigError(`PROBE_SNAT=${env.PROBE_SNAT} must be true or false`);
  return {
    nodeName,
    namespace,
    daemonSetName: env.DAEMONSET_NAME?.trim() || 'istio-cni-node',
    mountedBinDir: absPath(env, 'MOUNTED_CNI_BIN_DIR', '/host/opt/cni/bin'),
    mountedConfDir: absPath(env, 'MOUNTED_CNI_NET_DIR', '/host/etc/cni/net.d'),
    hostConfDir: absPath(env, 'CNI_NET_DIR', '/etc/cni/net.d'),
    eventSocket: absPath(env, 'CNI_EVENT_ADDRESS', DEFAULT_EVENT_SOCKET),
    zdsSocket: absPath(env, 'ZDS_SOCKET', '/var/run/ztunnel/ztunnel.sock'),
    excludeNamespaces: exclude,
    readyFile: absPath(env, 'READY_FILE', '/tmp/ambit-cni-ready'),
    probeSnat: snat === 'true',
  };
}
