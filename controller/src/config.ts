// The controller's configuration: the environment, read once at startup into a typed object (control-plane.ts
// passes its parts to the components by name; nothing below reads the environment). Names and defaults are
// Istio's where it has them; the manifests (manifests/20-controller.yaml) and users set them. A bad value stops
// the start with one line naming the variable and what it accepts. (KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT and
// HOME are the API client's, read by kube/kubeconfig.ts from the same environment object.)
import { hostname } from 'node:os';
import { tryParseGoDuration } from '@ambit/mesh-api';
import type { Level } from '@ambit/mesh-api';

export interface ControllerConfig {
  /** POD_NAME: this replica's identity in the leader Lease (default `<hostname>_<pid>`). */
  identity: string;
  /** POD_NAMESPACE: the system namespace (default istio-system). */
  systemNamespace: string;
  /** CLUSTER_DOMAIN (default cluster.local). */
  clusterDomain: string;
  /** AMBIT_LOG_LEVEL: debug, info, warn or error (default info). */
  logLevel: Level;
  /** AMBIT_WAYPOINT_IMAGE: the image of the waypoints it renders (default: the renderer's). */
  waypointImage?: string;
  /** AMBIT_MONITORING_PORT: metrics and health (default 15014; -1: none; 0: any free port). */
  monitoringPort: number;
  /** AMBIT_CA_PORT: the CA and config push server (default 15012; 0: any free port). */
  caPort: number;
  /** TRUST_DOMAIN (default cluster.local). */
  trustDomain: string;
  /** CA_TRUSTED_NODE_ACCOUNTS: `ns/sa,...` (default `<system namespace>/ztunnel`). */
  trustedNodeAccounts: string[];
  /** DEFAULT_WORKLOAD_CERT_TTL in seconds (default: the CA's, 24h). */
  defaultCertTtlSeconds?: number;
  /** MAX_WORKLOAD_CERT_TTL in seconds (default: the CA's, 90 days). */
  maxCertTtlSeconds?: number;
  /** AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY (default false). */
  enableDryRunAuthorizationPolicy: boolean;
}

/** The documented variables: name, default, what is accepted. */
export const ENVIRONMENT: ReadonlyArray<{ name: string; default: string; accepts: string }> = [
  { name: 'POD_NAME', default: '<hostname>_<pid>', accepts: 'any name' },
  { name: 'POD_NAMESPACE', default: 'istio-system', accepts: 'a namespace name' },
  { name: 'CLUSTER_DOMAIN', default: 'cluster.local', accepts: 'a DNS domain' },
  { name: 'AMBIT_LOG_LEVEL', default: 'info', accepts: 'debug, info, warn or error' },
  { name: 'AMBIT_WAYPOINT_IMAGE', default: '(the renderer default)', accepts: 'an image reference' },
  { name: 'AMBIT_MONITORING_PORT', default: '15014', accepts: 'a port number from 0 to 65535, or -1 for none' },
  { name: 'AMBIT_CA_PORT', default: '15012', accepts: 'a port number from 0 to 65535' },
  { name: 'TRUST_DOMAIN', default: 'cluster.local', accepts: 'a DNS domain' },
  { name: 'CA_TRUSTED_NODE_ACCOUNTS', default: '<POD_NAMESPACE>/ztunnel', accepts: 'a comma-separated list of namespace/serviceaccount' },
  { name: 'DEFAULT_WORKLOAD_CERT_TTL', default: '24h', accepts: 'a duration of at least 1s (24h, 90m, 3600s, or seconds)' },
  { name: 'MAX_WORKLOAD_CERT_TTL', default: '2160h', accepts: 'a duration of at least 1s (2160h, 90m, 3600s, or seconds)' },
  { name: 'AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY', default: 'false', accepts: 'true or false' },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Values given some other way (command-line flags): they win, and their variable is not read. */
export type ConfigOverrides = Partial<Pick<ControllerConfig, 'identity' | 'systemNamespace' | 'clusterDomain' | 'monitoringPort'>>;

const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_DOMAIN = /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;
const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/** A Go duration (`24h`, `90m`, `3600s`) or plain seconds, in seconds; undefined when absent or not a duration. */
export function parseDurationSeconds(v: string | undefined): number | undefined {
  const ms = tryParseGoDuration(v, { bareNumber: 's' });
  return ms === undefined ? undefined : ms / 1000;
}

/** Reads every variable of {@link ENVIRONMENT} from `env`; throws a {@link ConfigError} naming the first bad one. */
export function parseControllerConfig(env: NodeJS.ProcessEnv, overrides: ConfigOverrides = {}): ControllerConfig {
  const bad = (name: string, value: string): never => {
    const accepts = ENVIRONMENT.find((e) => e.name === name)?.accepts ?? 'another value';
    throw new ConfigError(`${name}=${JSON.stringify(value)} is not valid: expected ${accepts}`);
  };
  /** Unset and empty are the same: the default. */
  const read = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const text = (name: string, def: string, ok: RegExp): string => {
    const v = read(name);
    if (v === undefined) return def;
    return ok.test(v) ? v : bad(name, v);
  };
  const port = (name: string, def: number, min: number): number => {
    const v = read(name);
    if (v === undefined) return def;
    const n = Number(v);
    return /^-?\d+$/.test(v) && n >= min && n <= 65535 ? (n < 0 ? -1 : n) : bad(name, v);
  };
  const seconds = (name: string): number | undefined => {
    const v = read(name);
    if (v === undefined) return undefined;
    const s = parseDurationSeconds(v);
    return s !== undefined && s >= 1 ? s : bad(name, v);
  };

  const systemNamespace = overrides.systemNamespace ?? text('POD_NAMESPACE', 'istio-system', DNS_LABEL);
  const levelText = read('AMBIT_LOG_LEVEL');
  if (levelText !== undefined && !LEVELS.includes(levelText as Level)) bad('AMBIT_LOG_LEVEL', levelText);
  const accountsText = read('CA_TRUSTED_NODE_ACCOUNTS');
  const trustedNodeAccounts = accountsText
    ? accountsText
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [`${systemNamespace}/ztunnel`];
  for (const a of trustedNodeAccounts) {
    const [ns, sa, ...rest] = a.split('/');
    if (rest.length || !ns || !sa || !DNS_LABEL.test(ns) || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(sa)) bad('CA_TRUSTED_NODE_ACCOUNTS', accountsText!);
  }
  if (!trustedNodeAccounts.length) bad('CA_TRUSTED_NODE_ACCOUNTS', accountsText ?? '');
  const dryRun = read('AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY');
  if (dryRun !== undefined && !TRUE.has(dryRun) && !FALSE.has(dryRun)) bad('AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY', dryRun);

  return {
    identity: overrides.identity ?? read('POD_NAME') ?? `${hostname()}_${process.pid}`,
    systemNamespace,
    clusterDomain: overrides.clusterDomain ?? text('CLUSTER_DOMAIN', 'cluster.local', DNS_DOMAIN),
    logLevel: (levelText as Level | undefined) ?? 'info',
    waypointImage: read('AMBIT_WAYPOINT_IMAGE'),
    monitoringPort: overrides.monitoringPort ?? port('AMBIT_MONITORING_PORT', 15014, -1),
    caPort: port('AMBIT_CA_PORT', 15012, 0),
    trustDomain: text('TRUST_DOMAIN', 'cluster.local', DNS_DOMAIN),
    trustedNodeAccounts,
    defaultCertTtlSeconds: seconds('DEFAULT_WORKLOAD_CERT_TTL'),
    maxCertTtlSeconds: seconds('MAX_WORKLOAD_CERT_TTL'),
    enableDryRunAuthorizationPolicy: dryRun !== undefined && TRUE.has(dryRun),
  };
}
