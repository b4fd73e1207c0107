#!/usr/bin/env node
// The waypoint process. Configuration from a local YAML file (AMBIT_WAYPOINT_CONFIG or --config), or from the
// controller's push stream (XDS_ADDRESS, with --waypoint ns/name or AMBIT_WAYPOINT; the certificate then comes
// from the controller's CA at CA_ADDRESS / CA_ADDR / XDS_ADDRESS with the projected token). Listeners: HBONE 15008 (with the waypoint's
// SPIFFE certificate), readiness 15021 (/healthz/ready), metrics 15020 (/stats/prometheus); optionally a plain
// HTTP listener (listeners.http) for local testing. SIGTERM/SIGINT drain gracefully.
// Ingress role (the config's `waypoint.role: ingress`, or `ingress.listeners` in the file): the same process also
// opens one socket per listener targetPort (80/443 need net.ipv4.ip_unprivileged_port_start=0 when not root).
// Client address trust: --num-trusted-proxies / AMBIT_NUM_TRUSTED_PROXIES (Istio's numTrustedProxies, default 0:
// X-Forwarded-For never decides remoteIpBlocks); CA_TRUSTED_NODE_ACCOUNTS (`ns/sa,...`, default
// istio-system/ztunnel): node proxies whose `forwarded: for=` is believed for any workload.
// Plugins: AMBIT_PLUGINS_DIR (--plugins-dir) where packages are unpacked; AMBIT_PLUGIN_NAMESPACES (`a,b` or `*`):
// namespaces besides its own whose WaypointPlugins this waypoint runs (the controller renders it from the
// Gateway's plugins.ambit.dev/allowed-namespaces annotation). The allow-list comes with the config (SECURITY.md).
//
// File:
//   waypoint: {name, namespace, serviceAccount?, trustDomain?, rootNamespace?}
//   listeners: {hbone: 15008, readiness: 15021, metrics: 15020, http?: 8080, host?: 0.0.0.0}
//   tls: {certFile, keyFile, caFile}            # the waypoint's certificate chain, key, roots (PEM)
//      | {caCertFile, caKeyFile}                # or a CA to issue its own (explicit mode, tests)
//   mesh: {workloads: [...], services: [...]}   # @ambit/mesh-api shapes
//   resources: [AuthorizationPolicy, HTTPRoute, VirtualService, DestinationRule, WaypointPlugin, ...]
//   binding: {services: [ns/hostname], workloads: [uid]}   # the only CONNECT destinations; absent: all of mesh
//   ingress: {listeners: [IngressListener...]}             # an ingress gateway's listeners (@ambit/mesh-api shape)

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createLogger } from '@ambit/plugin-sdk';
import { waypointDrainMs } from './drain-deadline.js';
import { parseNamespaceList } from '@ambit/plugins';
import { CaClient, CertificateManager, LocalCA, loadCA, type CertificateSource, type WorkloadCertificate } from '@ambit/mesh-api';
import { ControllerConfigSource } from './config/controller.js';
import { FileConfigSource, parseWaypointFile, type ConfigSource, type WaypointFileSettings } from './config/source.js';
import { HboneConnector } from './hbone/connector.js';
import { drainWaypoint, HboneTermination } from './hbone/termination.js';
import { tuneHeap } from './heap.js';
import { PlainHttpConnector } from './upstream/connector.js';
import { Waypoint } from './waypoint.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    waypoint: { type: 'string' },
    'plugins-dir': { type: 'string' },
    'drain-seconds': { type: 'string' },
    'num-trusted-proxies': { type: 'string' },
  },
});

/** `host:port` (as the controller's Deployment passes it) or a URL. */
const controlPlaneUrl = (a: string) => (a.includes('://') ? a : `https://${a}`);

const log = createLogger({ scope: 'waypoint' });

async function certificateFrom(settings: WaypointFileSettings, identity: string): Promise<{ get: () => WorkloadCertificate; manager?: CertificateManager } | undefined> {
  const tls = settings.tls as (WaypointFileSettings['tls'] & { caCertFile?: string; caKeyFile?: string }) | undefined;
  if (tls?.certFile && tls.keyFile && tls.caFile) {
    const chain = (await readFile(tls.certFile, 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    const roots = (await readFile(tls.caFile, 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    const cert: WorkloadCertificate = {
      identity,
      keyPem: await readFile(tls.keyFile, 'utf8'),
      certChainPem: chain,
      rootsPem: roots,
      notBefore: new Date(0),
      notAfter: new Date(8.64e15),
      serial: '',
    };
    return { get: () => cert };
  }
  let source: CertificateSource | undefined;
  if (tls?.caCertFile && tls.caKeyFile) {
    source = new LocalCA(loadCA({ certPem: await readFile(tls.caCertFile, 'utf8'), keyPem: await readFile(tls.caKeyFile, 'utf8') }));
  } else {
    // The controller's CA (istiod's :15012 role), authenticated with the pod's projected token.
    const ca = process.env.CA_ADDRESS ?? process.env.CA_ADDR ?? process.env.XDS_ADDRESS;
    if (ca) source = new CaClient({ address: controlPlaneUrl(ca), mode: 'self' });
  }
  if (source) {
    const manager = new CertificateManager(source, { log: (level, msg) => log[level](msg) });
    let current = await manager.get(identity);
    manager.on('updated', (id: string, c: WorkloadCertificate) => {
      if (id === identity) current = c;
    });
    return { get: () => current, manager };
  }
  return undefined;
}

/** A whole number >= 0 from a flag or variable, or a one-line error naming it. */
function trustedHops(): number {
  const raw = values['num-trusted-proxies'] ?? process.env.AMBIT_NUM_TRUSTED_PROXIES;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`--num-trusted-proxies / AMBIT_NUM_TRUSTED_PROXIES must be a whole number >= 0 (Istio's numTrustedProxies), got ${JSON.stringify(raw)}`);
  return Number(raw.trim());
}

function trustedNodeAccounts(): string[] | undefined {
  const raw = process.env.CA_TRUSTED_NODE_ACCOUNTS;
  if (!raw) return undefined;
  const list = raw.split(',').map((a) => a.trim()).filter(Boolean);
  const bad = list.find((a) => !/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(a));
  if (bad) throw new Error(`CA_TRUSTED_NODE_ACCOUNTS: ${JSON.stringify(bad)} is not namespace/serviceaccount`);
  return list;
}

async function main(): Promise<void> {
  tuneHeap();
  const numTrustedProxies = trustedHops();
  const nodeAccounts = trustedNodeAccounts();
  const path = values.config ?? process.env.AMBIT_WAYPOINT_CONFIG;
  let settings: WaypointFileSettings = {};
  let source: ConfigSource;
  if (path) {
    settings = parseWaypointFile(await readFile(path, 'utf8'));
    source = new FileConfigSource(path, (err) => log.error('config file rejected, keeping the last good one', { path, error: err.message }));
  } else if (process.env.XDS_ADDRESS) {
    const wp = values.waypoint ?? process.env.AMBIT_WAYPOINT;
    if (!wp?.includes('/')) throw new Error('--waypoint ns/name (or AMBIT_WAYPOINT) is required with XDS_ADDRESS');
    const [namespace, name] = wp.split('/') as [string, string];
    settings = { waypoint: { namespace, name, serviceAccount: process.env.SERVICE_ACCOUNT } };
    source = new ControllerConfigSource({ address: controlPlaneUrl(process.env.XDS_ADDRESS), waypoint: wp });
  } else {
    throw new Error('no configuration: pass --config <file> (or AMBIT_WAYPOINT_CONFIG), or set XDS_ADDRESS');
  }
  const w = settings.waypoint ?? {};
  if (!w.name || !w.namespace) throw new Error('config: waypoint.name and waypoint.namespace are required');
  const trustDomain = w.trustDomain ?? process.env.TRUST_DOMAIN ?? 'cluster.local';
  const sa = w.serviceAccount ?? w.name;
  const identity = `spiffe://${trustDomain}/ns/${w.namespace}/sa/${sa}`;
  const cert = await certificateFrom(settings, identity);
  const listeners = settings.listeners ?? {};
  const waypoint = new Waypoint({
    identity: { name: w.name, namespace: w.namespace, serviceAccount: sa, trustDomain, rootNamespace: w.rootNamespace, workload: process.env.ISTIO_META_WORKLOAD_NAME || undefined },
    source,
    logger: log,
    connector: cert ? new HboneConnector({ certificate: cert.get }) : new PlainHttpConnector(),
    pluginsDir: values['plugins-dir'] ?? process.env.AMBIT_PLUGINS_DIR ?? '/var/lib/ambit/plugins',
    pluginNamespaces: parseNamespaceList(process.env.AMBIT_PLUGIN_NAMESPACES),
    numTrustedProxies,
    trustedNodeAccounts: nodeAccounts,
    certificateValid: () => !cert?.manager || cert.manager.expired().length === 0,
  });
  await waypoint.start();
  const host = listeners.host ?? '0.0.0.0';
  const ports = await waypoint.listen({
    http: listeners.http !== undefined ? { port: listeners.http, host } : undefined,
    readiness: { port: listeners.readiness ?? 15021, host },
    metrics: { port: listeners.metrics ?? 15020, host },
  });
  let term: HboneTermination | undefined;
  if (cert) {
    term = new HboneTermination(waypoint, { certificate: cert.get(), trustDomain });
    cert.manager?.on('updated', (id: string, c: WorkloadCertificate) => id === identity && term!.setCertificate(c));
    const p = await term.listen(listeners.hbone ?? 15008, host);
    log.info('hbone listening', { port: p.port, identity });
  } else {
    log.warn('no certificate configured (tls): HBONE listener disabled, upstreams reached over plain HTTP');
  }
  log.info('waypoint ready', { name: `${w.namespace}/${w.name}`, ...ports });
  const drainMs = waypointDrainMs(values['drain-seconds'], process.env);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', { signal, graceMs: drainMs });
    await drainWaypoint(waypoint, term, drainMs);
    cert?.manager?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: Error) => {
  log.error('waypoint failed to start', { error: err.message });
  process.exit(1);
});
