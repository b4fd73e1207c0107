// Shared-mode (in-pod) configuration: Istio's ztunnel environment names where they exist, on top of the common
// runtime settings of config/config.ts.
import { parseZtunnelConfig, type HostPort, type ZtunnelConfig } from '../config/config.js';
import { flatYaml } from '../config/yaml.js';
import { INPOD_MARK } from '../inpod/netns.js';
import { DEFAULT_ZDS_SOCKET } from '../zds/protocol.js';
import { DEFAULT_CA_ADDRESS, DEFAULT_ROOT_CERT_PATH, DEFAULT_TOKEN_PATH } from '@ambit/mesh-api';

export interface SharedModeConfig extends Omit<ZtunnelConfig, 'mode' | 'explicit' | 'localXds' | 'ca'> {
  mode: 'shared';
  /** NODE_NAME: the node whose pods this ztunnel serves. */
  nodeName: string;
  /** POD_NAME / POD_NAMESPACE of ztunnel itself (logs, config dump). */
  podName?: string;
  podNamespace?: string;
  /** CA_ADDRESS / XDS_ADDRESS: the controller's :15012 (`https://…`). */
  caAddress: string;
  xdsAddress: string;
  /** The projected token (audience istio-ca) sent to both. */
  tokenPath: string;
  /** The mesh root (ConfigMap istio-ca-root-cert). */
  rootCertPath: string;
  /** PACKET_MARK on ztunnel's own in-pod sockets (1337). */
  packetMark: number;
  /**
   * ZDS_SOCKET (or Istio's INPOD_UDS): the node agent's socket, default /var/run/ztunnel/ztunnel.sock. Pods come only
   * from there: the node agent (istio-cni's role, its own DaemonSet) sends each pod with its netns fd.
   */
  zdsSocket: string;
  /** When set (local file), the mesh model comes from it instead of the push stream. */
  localXdsPath?: string;
}

/**
 * INPOD_SOURCE is retired: pods come only from the node agent over ZDS. Manifests written when it chose between
 * `zds` and an in-process agent may still set `zds`, which is accepted; any other value is a one-line error.
 */
export function checkInpodSource(v: string | undefined): void {
  const s = (v ?? '').trim().toLowerCase();
  if (s === '' || s === 'zds') return;
  throw new Error(
    `INPOD_SOURCE=${v} is not supported: ztunnel takes pods only from the node agent (the istio-cni-node DaemonSet) over ZDS_SOCKET; remove INPOD_SOURCE or set it to zds`,
  );
}

/** `istiod.istio-system.svc:15012` or `https://…` → `https://host:port`. */
export function controlPlaneUrl(v: string): string {
  return /^https?:\/\//.test(v) ? v : `https://${v}`;
}

export function parseSharedConfig(env: NodeJS.ProcessEnv = process.env): SharedModeConfig {
  const nodeName = env.NODE_NAME;
  if (!nodeName) throw new Error('shared (in-pod) mode needs NODE_NAME (set it from spec.nodeName with the downward API)');
  checkInpodSource(env.INPOD_SOURCE);
  const base = parseZtunnelConfig(undefined, env);
  const { explicit: _e, localXds: _l, ca: _c, mode: _m, ...common } = base;
  return {
    ...common,
    mode: 'shared',
    nodeName,
    podName: env.POD_NAME,
    podNamespace: env.POD_NAMESPACE,
    caAddress: controlPlaneUrl(env.CA_ADDRESS || DEFAULT_CA_ADDRESS),
    xdsAddress: controlPlaneUrl(env.XDS_ADDRESS || env.CA_ADDRESS || DEFAULT_CA_ADDRESS),
    tokenPath: env.TOKEN_PATH || DEFAULT_TOKEN_PATH,
    rootCertPath: env.XDS_ROOT_CA || env.ROOT_CERT_PATH || DEFAULT_ROOT_CERT_PATH,
    packetMark: Number(env.PACKET_MARK ?? INPOD_MARK),
    zdsSocket: env.ZDS_SOCKET || env.INPOD_UDS || DEFAULT_ZDS_SOCKET,
  };
}

const hp = (a?: HostPort) => (a ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : undefined);

/** The `running with config:` dump (camelCase keys, as ztunnel's HEAD does); no secrets are in the config. */
export function describeConfig(c: SharedModeConfig): string {
  return flatYaml({
    proxyMode: 'Shared',
    nodeName: c.nodeName,
    podName: c.podName,
    podNamespace: c.podNamespace,
    clusterId: c.clusterId,
    clusterDomain: 'cluster.local',
    trustDomain: c.trustDomain,
    network: c.network,
    caAddress: c.caAddress,
    xdsAddress: c.xdsAddress,
    localXdsPath: c.localXdsPath,
    tokenPath: c.tokenPath,
    rootCertPath: c.rootCertPath,
    secretTtl: `${c.secretTtlSeconds}s`,
    inpodEnabled: true,
    inpodUds: c.zdsSocket,
    inpodMark: c.packetMark,
    inpodPortReuse: true,
    hbonePort: c.hbonePort,
    adminAddr: hp(c.adminAddr),
    readinessAddr: hp(c.readinessAddr),
    statsAddr: hp(c.statsAddr),
    drainDeadline: `${c.drainDeadlineMs}ms`,
    poolMaxStreamsPerConn: c.poolMaxStreams,
    poolUnusedReleaseTimeout: `${c.poolIdleMs}ms`,
  });
}
