// What a waypoint is built from (WaypointOptions) and listens on (ListenOptions), and the checks and defaults
// applied to them once, at construction.

import type { AccessLogSink, Logger, MetricsRegistry, PluginBinding, PluginClass, ResourceRef, StatusCondition, WaypointIdentity } from '@ambit/plugin-sdk';
import type { PluginPolicy } from '@ambit/plugins';
import type { ConfigSource } from './config/source.js';
import type { Limits } from './server/app.js';
import type { UpstreamConnector } from './upstream/connector.js';

export interface WaypointOptions {
  identity: Partial<WaypointIdentity> & { name: string; namespace: string };
  source?: ConfigSource;
  connector?: UpstreamConnector;
  /** Built-in plugin classes to run (default: authz, routing, telemetry). */
  builtin?: PluginClass[];
  /** More plugins: classes (resolved in the waypoint's container) or bindings. */
  plugins?: Array<PluginClass | PluginBinding>;
  logger?: Logger;
  accessLog?: AccessLogSink;
  metrics?: MetricsRegistry;
  limits?: Limits;
  /** Cluster DNS domain for short Host names. Default cluster.local. */
  domain?: string;
  /** Where WaypointPlugin packages are installed (one directory per version). Unset: WaypointPlugins ignored. */
  pluginsDir?: string;
  /**
   * The plugin allow-list when the config holds no ConfigMap `ambit-plugin-policy` of the root namespace (which
   * the controller pushes, and which wins). Neither: no WaypointPlugin is allowed.
   */
  pluginPolicy?: PluginPolicy;
  /**
   * Namespaces besides its own and the root namespace whose WaypointPlugins this waypoint runs (`*`: any): what
   * the Gateway's owner put in its `plugins.ambit.dev/allowed-namespaces` annotation (AMBIT_PLUGIN_NAMESPACES).
   */
  pluginNamespaces?: string[];
  /** Status of resources the waypoint reads (WaypointPlugin Active, AuthorizationPolicy acceptance). */
  onStatus?(ref: ResourceRef, condition: StatusCondition): void;
  /**
   * Hops of X-Forwarded-For trusted for the original client address (`remoteIpBlocks`, `remote.ip`): Istio's
   * `numTrustedProxies`. Default 0: the header never decides; the source address does.
   */
  numTrustedProxies?: number;
  /**
   * `ns/serviceAccount` of node proxies whose `forwarded: for=` header is believed for any workload (Istio's
   * CA_TRUSTED_NODE_ACCOUNTS). Default `istio-system/ztunnel`.
   */
  trustedNodeAccounts?: string[];
  /** False while the waypoint's certificate has expired and renewal fails: readiness answers 503 meanwhile. */
  certificateValid?: () => boolean;
  /**
   * Ingress role (a snapshot with `ingress`): where its listener sockets bind (default 0.0.0.0), how long a removed
   * port's connections may finish (default 5 s), and the TLS handshake deadline (default 10 s).
   */
  ingress?: { host?: string; drainMs?: number; handshakeTimeoutMs?: number };
}

export interface ListenOptions {
  /** Plain HTTP listener (requests route by Host header). */
  http?: { port: number; host?: string };
  readiness?: { port: number; host?: string };
  metrics?: { port: number; host?: string };
}

/** The identity with its defaults: trust domain cluster.local, the service account named as the waypoint. */
export function identityOf(id: WaypointOptions['identity']): WaypointIdentity {
  const trustDomain = id.trustDomain ?? 'cluster.local';
  const serviceAccount = id.serviceAccount ?? id.name;
  return {
    name: id.name,
    namespace: id.namespace,
    trustDomain,
    serviceAccount,
    rootNamespace: id.rootNamespace ?? 'istio-system',
    spiffeId: id.spiffeId ?? `spiffe://${trustDomain}/ns/${id.namespace}/sa/${serviceAccount}`,
    ...(id.workload ? { workload: id.workload } : {}),
  };
}

/** `numTrustedProxies`, checked: a whole number >= 0 (default 0). */
export function trustedHops(n: number | undefined): number {
  const hops = n ?? 0;
  if (!Number.isInteger(hops) || hops < 0) throw new Error(`numTrustedProxies must be a whole number >= 0, got ${hops}`);
  return hops;
}
