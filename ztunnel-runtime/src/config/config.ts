// ztunnel runtime configuration: a YAML file (`--config`) plus Istio's env names where they exist.
import { readFileSync } from 'node:fs';
import { parseYaml } from './yaml.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ExplicitOutboundListener {
  /** Where the local app connects (`127.0.0.1:9001`). */
  listen: string;
  /** Fixed original destination (`ip:port`); omitted → the client names it with SOCKS5 CONNECT. */
  target?: string;
}

export interface ExplicitWorkload {
  /** Workload uid, or pick by IP with `ip`. */
  uid?: string;
  ip?: string;
  /** HBONE listener; default `<workload ip>:<hbonePort>`. */
  hboneAddr?: string;
  /** Plaintext inbound listener (15006 role) with a fixed target port. */
  plaintext?: { listen: string; targetPort: number }[];
  outbound?: ExplicitOutboundListener[];
}

export interface ZtunnelConfig {
  mode: 'explicit' | 'inpod';
  clusterId: string;
  network: string;
  trustDomain: string;
  hbonePort: number;
  localXdsPath?: string;
  localXds?: string;
  adminAddr?: HostPort;
  readinessAddr?: HostPort;
  statsAddr?: HostPort;
  drainDeadlineMs: number;
  secretTtlSeconds: number;
  poolMaxStreams: number;
  poolIdleMs: number;
  /** CA for explicit mode (PEM files); generated in memory when absent. */
  ca?: { certPath: string; keyPath: string };
  explicit: { workloads: ExplicitWorkload[] };
}

export function parseHostPort(s: string, defHost = '127.0.0.1'): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]*):(\d+)$/.exec(s);
  if (m) return { host: m[1] || defHost, port: Number(m[2]) };
  if (/^\d+$/.test(s)) return { host: defHost, port: Number(s) };
  throw new Error(`invalid address "${s}" (want host:port)`);
}

const KNOWN = new Set([
  'mode',
  'clusterId',
  'network',
  'trustDomain',
  'hbonePort',
  'localXdsPath',
  'localXds',
  'adminAddr',
  'readinessAddr',
  'statsAddr',
  'drainDeadlineMs',
  'secretTtlSeconds',
  'poolMaxStreams',
  'poolIdleMs',
  'ca',
  'explicit',
]);

/**
 * How long a draining ztunnel keeps its open connections: DRAIN_DEADLINE_MS (or the file's drainDeadlineMs) when
 * set; else, as Istio's ztunnel, the pod's grace period less 5 s when TERMINATION_GRACE_PERIOD_SECONDS is given (the
 * DaemonSet passes it), so connections get as long as possible and the process still exits before the kubelet's
 * SIGKILL; else 5 s.
 */
export function drainDeadline(env: NodeJS.ProcessEnv, fromFile?: number): number {
  const explicit = env.DRAIN_DEADLINE_MS ?? fromFile;
  if (explicit !== undefined && explicit !== '') {
    const ms = Number(explicit);
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`DRAIN_DEADLINE_MS must be a number of milliseconds >= 0, got ${JSON.stringify(explicit)}`);
    return ms;
  }
  const grace = env.TERMINATION_GRACE_PERIOD_SECONDS;
  if (grace !== undefined && grace !== '') {
    if (!/^\d+$/.test(grace.trim())) throw new Error(`TERMINATION_GRACE_PERIOD_SECONDS must be a whole number of seconds (the pod's terminationGracePeriodSeconds), got ${JSON.stringify(grace)}`);
    return Math.max(0, Number(grace) - 5) * 1000;
  }
  return 5000;
}

/** Builds the configuration from a YAML text (may be empty) and the environment. */
export function parseZtunnelConfig(text: string | undefined, env: NodeJS.ProcessEnv = process.env): ZtunnelConfig {
  const raw = (text ? parseYaml(text) : {}) ?? {};
  for (const k of Object.keys(raw)) if (!KNOWN.has(k)) throw new Error(`unknown field \`${k}\` in ztunnel config`);
  const addr = (v: unknown, envName: string, def?: string) => {
    const s = env[envName] ?? (v as string | undefined) ?? def;
    return s === undefined || s === '' || s === 'off' ? undefined : parseHostPort(String(s));
  };
  return {
    mode: raw.mode ?? 'explicit',
    clusterId: env.CLUSTER_ID ?? raw.clusterId ?? 'Kubernetes',
    network: env.NETWORK ?? raw.network ?? '',
    trustDomain: env.TRUST_DOMAIN ?? raw.trustDomain ?? 'cluster.local',
    hbonePort: Number(raw.hbonePort ?? 15008),
    localXdsPath: env.LOCAL_XDS_PATH ?? raw.localXdsPath,
    localXds: env.LOCAL_XDS ?? raw.localXds,
    adminAddr: addr(raw.adminAddr, 'ADMIN_ADDR', '127.0.0.1:15000'),
    readinessAddr: addr(raw.readinessAddr, 'READINESS_ADDR', '0.0.0.0:15021'),
    statsAddr: addr(raw.statsAddr, 'STATS_ADDR', '0.0.0.0:15020'),
    drainDeadlineMs: drainDeadline(env, raw.drainDeadlineMs),
    secretTtlSeconds: Number(env.SECRET_TTL_SECONDS ?? raw.secretTtlSeconds ?? 86_400),
    poolMaxStreams: Number(env.POOL_MAX_STREAMS_PER_CONNECTION ?? raw.poolMaxStreams ?? 100),
    poolIdleMs: Number(raw.poolIdleMs ?? 300_000),
    ca: raw.ca,
    explicit: { workloads: raw.explicit?.workloads ?? [] },
  };
}

export function loadZtunnelConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): ZtunnelConfig {
  return parseZtunnelConfig(path ? readFileSync(path, 'utf8') : undefined, env);
}
