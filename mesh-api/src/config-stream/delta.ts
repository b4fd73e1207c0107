// Keyed collections, diffs and their application: the one piece of the push protocol both ends share.

import { isIP } from 'node:net';
import { policyKey, resourceKey, serviceKey, workloadKey, type MeshConfig } from '../model/types.js';
import type { ClientKind, KubeObject, PushMessage, WaypointConfig } from './types.js';

type KeyFn = (item: never) => string;

/** The keyed (array) collections of each config kind. Every other top-level field is a singleton. */
export const COLLECTIONS: Record<ClientKind, Record<string, KeyFn>> = {
  ztunnel: { workloads: workloadKey, services: serviceKey, policies: policyKey },
  waypoint: { workloads: workloadKey, services: serviceKey, resources: resourceKey as KeyFn },
};

/** The key function of collection `name` of `kind` (own properties only: `__proto__` is not a collection). */
function keyOf(kind: ClientKind, name: string): KeyFn | undefined {
  const defs = COLLECTIONS[kind];
  return Object.hasOwn(defs, name) ? defs[name] : undefined;
}

/** A config broken into items, each with its JSON text, so two versions compare cheaply. */
export interface IndexedConfig {
  kind: ClientKind;
  collections: Map<string, Map<string, { json: string; item: unknown }>>;
  singletons: Map<string, { json: string; value: unknown }>;
}

export function indexConfig(kind: ClientKind, config: object): IndexedConfig {
  const collections = new Map<string, Map<string, { json: string; item: unknown }>>();
  const singletons = new Map<string, { json: string; value: unknown }>();
  for (const name of Object.keys(COLLECTIONS[kind])) collections.set(name, new Map());
  for (const [name, value] of Object.entries(config)) {
    const key = keyOf(kind, name);
    if (key) {
      const m = collections.get(name)!;
      for (const item of (value ?? []) as never[]) m.set(key(item), { json: JSON.stringify(item), item });
    } else if (value !== undefined) {
      singletons.set(name, { json: JSON.stringify(value), value });
    }
  }
  return { kind, collections, singletons };
}

export interface Delta {
  upserts: Record<string, unknown>;
  removals: Record<string, string[]>;
  /** Number of items upserted or removed (singletons count one). */
  changes: number;
}

/** What turns `prev` into `next`; `changes` is 0 when they are equal. */
export function diffConfigs(prev: IndexedConfig, next: IndexedConfig): Delta {
  const upserts: Record<string, unknown> = {};
  const removals: Record<string, string[]> = {};
  let changes = 0;
  for (const [name, nextItems] of next.collections) {
    const prevItems = prev.collections.get(name) ?? new Map();
    const up: unknown[] = [];
    for (const [k, v] of nextItems) {
      const p = prevItems.get(k);
      if (!p || p.json !== v.json) up.push(v.item);
    }
    const rm: string[] = [];
    for (const k of prevItems.keys()) if (!nextItems.has(k)) rm.push(k);
    if (up.length) upserts[name] = up;
    if (rm.length) removals[name] = rm;
    changes += up.length + rm.length;
  }
  for (const [name, v] of next.singletons) {
    if (prev.singletons.get(name)?.json !== v.json) {
      upserts[name] = v.value;
      changes++;
    }
  }
  for (const name of prev.singletons.keys()) {
    if (!next.singletons.has(name)) {
      (removals[name] ??= []).push(name);
      changes++;
    }
  }
  return { upserts, removals, changes };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const fail = (path: string, what: string): never => {
  throw new ConfigError(`${path}: ${what}`);
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, path: string, optional = false): void => {
  if (v === undefined && optional) return;
  if (typeof v !== 'string') fail(path, 'expected a string');
};
const strArray = (v: unknown, path: string, optional = true): void => {
  if (v === undefined && optional) return;
  if (!Array.isArray(v)) return fail(path, 'expected an array');
  v.forEach((s, i) => str(s, `${path}[${i}]`));
};
const port = (v: unknown, path: string): void => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) fail(path, 'expected a port number');
};
const portMap = (v: unknown, path: string, optional = true): void => {
  if (v === undefined && optional) return;
  if (!isObj(v)) return fail(path, 'expected an object');
  for (const [k, p] of Object.entries(v)) {
    port(Number(k), `${path} key ${JSON.stringify(k)}`);
    port(p, `${path}.${k}`);
  }
};
const oneOf = (v: unknown, allowed: readonly unknown[], path: string, optional = false): void => {
  if (v === undefined && optional) return;
  if (!allowed.includes(v)) fail(path, `expected one of ${allowed.join(', ')}`);
};
const gatewayAddress = (v: unknown, path: string): void => {
  if (v === undefined) return;
  if (!isObj(v)) return fail(path, 'expected an object');
  str(v.destination, `${path}.destination`);
  port(v.hboneMtlsPort, `${path}.hboneMtlsPort`);
};

function validateWorkload(w: unknown, path: string): void {
  if (!isObj(w)) return fail(path, 'expected an object');
  for (const k of ['uid', 'name', 'namespace', 'serviceAccount'] as const) str(w[k], `${path}.${k}`);
  if (!w.uid) fail(`${path}.uid`, 'empty');
  if (!Array.isArray(w.workloadIps)) fail(`${path}.workloadIps`, 'expected an array');
  (w.workloadIps as unknown[]).forEach((ip, i) => {
    if (typeof ip !== 'string' || !isIP(ip)) fail(`${path}.workloadIps[${i}]`, 'expected an IP address');
  });
  oneOf(w.protocol, ['TCP', 'HBONE'], `${path}.protocol`);
  for (const k of ['trustDomain', 'node', 'network', 'workloadName', 'canonicalName', 'canonicalRevision', 'clusterId'])
    str(w[k], `${path}.${k}`, true);
  oneOf(w.status, ['Healthy', 'Unhealthy'], `${path}.status`, true);
  gatewayAddress(w.waypoint, `${path}.waypoint`);
  strArray(w.authorizationPolicies, `${path}.authorizationPolicies`);
  if (w.services !== undefined) {
    if (!isObj(w.services)) fail(`${path}.services`, 'expected an object');
    for (const [k, m] of Object.entries(w.services as object)) portMap(m, `${path}.services[${JSON.stringify(k)}]`, false);
  }
  if (w.labels !== undefined) {
    if (!isObj(w.labels)) fail(`${path}.labels`, 'expected an object');
    for (const [k, v] of Object.entries(w.labels as object)) str(v, `${path}.labels.${k}`);
  }
}

function validateService(s: unknown, path: string): void {
  if (!isObj(s)) return fail(path, 'expected an object');
  for (const k of ['name', 'namespace', 'hostname'] as const) str(s[k], `${path}.${k}`);
  strArray(s.vips, `${path}.vips`, false);
  portMap(s.ports, `${path}.ports`, false);
  if (s.appProtocols !== undefined) {
    if (!isObj(s.appProtocols)) fail(`${path}.appProtocols`, 'expected an object');
    for (const [k, v] of Object.entries(s.appProtocols as object)) {
      port(Number(k), `${path}.appProtocols key ${JSON.stringify(k)}`);
      oneOf(v, ['HTTP11', 'HTTP2', 'GRPC'], `${path}.appProtocols.${k}`);
    }
  }
  strArray(s.subjectAltNames, `${path}.subjectAltNames`);
  gatewayAddress(s.waypoint, `${path}.waypoint`);
  if (s.endpoints !== undefined) {
    if (!isObj(s.endpoints)) fail(`${path}.endpoints`, 'expected an object');
    for (const [k, e] of Object.entries(s.endpoints as object)) {
      const p = `${path}.endpoints[${JSON.stringify(k)}]`;
      if (!isObj(e)) fail(p, 'expected an object');
      str(e.workloadUid, `${p}.workloadUid`);
      portMap(e.port, `${p}.port`, false);
      oneOf(e.status, ['Healthy', 'Unhealthy'], `${p}.status`, true);
    }
  }
}

const STRING_MATCH_KEYS = ['Exact', 'Prefix', 'Suffix', 'Presence'];
function validatePolicy(p: unknown, path: string): void {
  if (!isObj(p)) return fail(path, 'expected an object');
  str(p.name, `${path}.name`);
  str(p.namespace, `${path}.namespace`);
  oneOf(p.scope, ['Global', 'Namespace', 'WorkloadSelector'], `${path}.scope`);
  oneOf(p.action, ['Allow', 'Deny'], `${path}.action`);
  if (typeof p.dryRun !== 'boolean') fail(`${path}.dryRun`, 'expected a boolean');
  if (!Array.isArray(p.rules)) return fail(`${path}.rules`, 'expected an array');
  p.rules.forEach((rule: unknown, i) => {
    if (!Array.isArray(rule)) return fail(`${path}.rules[${i}]`, 'expected an array of clauses');
    rule.forEach((clause: unknown, j) => {
      if (!Array.isArray(clause)) return fail(`${path}.rules[${i}][${j}]`, 'expected an array of matches');
      clause.forEach((m: unknown, k) => {
        const mp = `${path}.rules[${i}][${j}][${k}]`;
        if (!isObj(m)) return fail(mp, 'expected an object');
        for (const [field, v] of Object.entries(m)) {
          if (!Array.isArray(v)) return fail(`${mp}.${field}`, 'expected an array');
          if (/Ports$/i.test(field)) v.forEach((x, n) => port(x, `${mp}.${field}[${n}]`));
          else if (/Ips$/i.test(field)) v.forEach((x, n) => str(x, `${mp}.${field}[${n}]`));
          else if (/ServiceAccounts$/i.test(field))
            v.forEach((x, n) => {
              if (!isObj(x)) fail(`${mp}.${field}[${n}]`, 'expected an object');
              str(x.namespace, `${mp}.${field}[${n}].namespace`);
              str(x.serviceAccount, `${mp}.${field}[${n}].serviceAccount`);
            });
          else if (/(Namespaces|Principals)$/i.test(field))
            v.forEach((x, n) => {
              if (!isObj(x) || Object.keys(x).length !== 1 || !STRING_MATCH_KEYS.includes(Object.keys(x)[0]!))
                fail(`${mp}.${field}[${n}]`, 'expected a string match');
            });
          else fail(`${mp}.${field}`, 'unknown match field');
        }
      });
    });
  });
}

function validateResource(o: unknown, path: string): void {
  if (!isObj(o)) return fail(path, 'expected an object');
  str(o.apiVersion, `${path}.apiVersion`);
  str(o.kind, `${path}.kind`);
  if (!isObj(o.metadata)) return fail(`${path}.metadata`, 'expected an object');
  str(o.metadata.name, `${path}.metadata.name`);
  str(o.metadata.namespace, `${path}.metadata.namespace`, true);
}

function validateWaypointInfo(w: unknown, path: string): void {
  if (!isObj(w)) return fail(path, 'expected an object');
  str(w.name, `${path}.name`);
  str(w.namespace, `${path}.namespace`);
  str(w.gatewayClassName, `${path}.gatewayClassName`);
  oneOf(w.trafficType, ['service', 'workload', 'all', 'none'], `${path}.trafficType`);
  str(w.forServiceAccount, `${path}.forServiceAccount`, true);
  gatewayAddress(w.address, `${path}.address`);
  strArray(w.services, `${path}.services`, false);
  strArray(w.workloads, `${path}.workloads`, false);
  oneOf(w.role, ['ingress'], `${path}.role`, true);
  if (w.listeners === undefined) return;
  if (!Array.isArray(w.listeners)) return fail(`${path}.listeners`, 'expected an array');
  w.listeners.forEach((l, i) => validateIngressListener(l, `${path}.listeners[${i}]`));
}

function validateIngressListener(l: unknown, path: string): void {
  if (!isObj(l)) return fail(path, 'expected an object');
  str(l.name, `${path}.name`);
  if (!isObj(l.parent)) return fail(`${path}.parent`, 'expected an object');
  oneOf(l.parent.group, ['gateway.networking.k8s.io', 'networking.istio.io'], `${path}.parent.group`);
  str(l.parent.namespace, `${path}.parent.namespace`);
  str(l.parent.name, `${path}.parent.name`);
  port(l.port, `${path}.port`);
  port(l.targetPort, `${path}.targetPort`);
  oneOf(l.protocol, ['HTTP', 'HTTPS', 'TLS'], `${path}.protocol`);
  strArray(l.hostnames, `${path}.hostnames`);
  strArray(l.routes, `${path}.routes`, false);
  if (l.tls === undefined) return;
  if (!isObj(l.tls)) return fail(`${path}.tls`, 'expected an object');
  oneOf(l.tls.mode, ['Terminate', 'Passthrough'], `${path}.tls.mode`);
  if (!Array.isArray(l.tls.certificates)) return fail(`${path}.tls.certificates`, 'expected an array');
  l.tls.certificates.forEach((c: unknown, i: number) => {
    if (!isObj(c)) return fail(`${path}.tls.certificates[${i}]`, 'expected an object');
    str(c.certChain, `${path}.tls.certificates[${i}].certChain`);
    str(c.privateKey, `${path}.tls.certificates[${i}].privateKey`);
  });
}

function validateTracing(t: unknown, path: string): void {
  if (!isObj(t)) return fail(path, 'expected an object');
  str(t.provider, `${path}.provider`);
  str(t.endpoint, `${path}.endpoint`);
  let url: URL | undefined;
  try {
    url = new URL(t.endpoint as string);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) fail(`${path}.endpoint`, 'expected an http(s) URL');
  const pct = t.randomSamplingPercentage;
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) fail(`${path}.randomSamplingPercentage`, 'expected a number from 0 to 100');
  if (t.timeoutMs !== undefined && (typeof t.timeoutMs !== 'number' || !Number.isInteger(t.timeoutMs) || t.timeoutMs <= 0)) fail(`${path}.timeoutMs`, 'expected a whole number of milliseconds > 0');
  if (t.headers !== undefined) {
    if (!isObj(t.headers)) fail(`${path}.headers`, 'expected an object');
    for (const [k, v] of Object.entries(t.headers as object)) str(v, `${path}.headers.${k}`);
  }
  if (t.disableSpanReporting !== undefined && typeof t.disableSpanReporting !== 'boolean') fail(`${path}.disableSpanReporting`, 'expected a boolean');
}

const ITEM_VALIDATORS: Record<string, (v: unknown, path: string) => void> = {
  workloads: validateWorkload,
  services: validateService,
  policies: validatePolicy,
  resources: validateResource,
};

/** Throws a {@link ConfigError} naming the first bad field. Unknown top-level fields are rejected. */
export function validateConfig(kind: ClientKind, config: unknown, partial = false): void {
  if (!isObj(config)) return fail('config', 'expected an object');
  for (const [name, value] of Object.entries(config)) {
    const key = keyOf(kind, name);
    if (key) {
      if (!Array.isArray(value)) return fail(name, 'expected an array');
      const seen = new Set<string>();
      value.forEach((item, i) => {
        ITEM_VALIDATORS[name]!(item, `${name}[${i}]`);
        const k = key(item as never);
        if (seen.has(k)) fail(`${name}[${i}]`, `duplicate key ${JSON.stringify(k)}`);
        seen.add(k);
      });
    } else if (kind === 'waypoint' && name === 'waypoint') {
      validateWaypointInfo(value, 'waypoint');
    } else if (kind === 'waypoint' && name === 'tracing') {
      validateTracing(value, 'tracing');
    } else {
      fail(name, 'unknown field');
    }
  }
  if (kind === 'waypoint' && !partial && config.waypoint === undefined) fail('waypoint', 'missing');
}

/** Checks a server message's envelope; the config parts are checked by {@link applyMessage}. */
export function validateEnvelope(msg: unknown): asserts msg is PushMessage<object> {
  if (!isObj(msg)) return fail('message', 'expected an object');
  if (typeof msg.nonce !== 'string' || !msg.nonce) fail('nonce', 'expected a non-empty string');
  if (typeof msg.version !== 'string' || !msg.version) fail('version', 'expected a non-empty string');
  str(msg.base, 'base', true);
  if (msg.full === undefined && msg.upserts === undefined && msg.removals === undefined)
    fail('message', 'carries neither full nor upserts/removals');
  if (msg.full !== undefined && (msg.upserts !== undefined || msg.removals !== undefined))
    fail('message', 'carries both full and upserts/removals');
  if (msg.removals !== undefined) {
    if (!isObj(msg.removals)) fail('removals', 'expected an object');
    for (const [k, v] of Object.entries(msg.removals as object)) strArray(v, `removals.${k}`, false);
  }
}

/**
 * The config that results from applying `msg` to `current` (which is not modified). Throws a
 * {@link ConfigError} if the message is malformed, does not apply to `current`, or yields an invalid config.
 */
export function applyMessage<C extends object>(
  kind: ClientKind,
  current: { version: string; config: C } | undefined,
  msg: PushMessage<object>,
): C {
  if (msg.full !== undefined) {
    validateConfig(kind, msg.full);
    return normalize(kind, msg.full) as C;
  }
  if (!current) throw new ConfigError(`delta for base ${msg.base ?? '(none)'} but no config held`);
  if (msg.base !== current.version)
    throw new ConfigError(`delta for base ${msg.base ?? '(none)'} but holding version ${current.version}`);
  if (msg.upserts !== undefined) validateConfig(kind, msg.upserts, true);
  const out: Record<string, unknown> = { ...(current.config as Record<string, unknown>) };
  const removals = msg.removals ?? {};
  for (const name of Object.keys(removals)) {
    if (!keyOf(kind, name) && !(kind === 'waypoint' && (name === 'waypoint' || name === 'tracing'))) fail(`removals.${name}`, 'unknown field');
  }
  for (const name of new Set([...Object.keys(msg.upserts ?? {}), ...Object.keys(removals)])) {
    const key = keyOf(kind, name);
    const up = (msg.upserts as Record<string, unknown> | undefined)?.[name];
    if (!key) {
      if (up !== undefined) out[name] = up;
      else delete out[name];
      continue;
    }
    const items = new Map<string, unknown>();
    for (const item of (out[name] ?? []) as never[]) items.set(key(item), item);
    for (const k of removals[name] ?? []) items.delete(k);
    for (const item of (up ?? []) as never[]) items.set(key(item), item);
    out[name] = [...items.values()];
  }
  if (kind === 'waypoint' && out.waypoint === undefined) fail('waypoint', 'missing');
  return out as C;
}

/** Every collection present (possibly empty), so consumers need no `?? []`. */
function normalize(kind: ClientKind, config: object): object {
  const out: Record<string, unknown> = { ...config };
  for (const name of Object.keys(COLLECTIONS[kind])) out[name] ??= [];
  return out;
}

export const emptyConfig = (kind: ClientKind): MeshConfig | Omit<WaypointConfig, 'waypoint'> =>
  normalize(kind, {}) as MeshConfig;

export type { KubeObject };
