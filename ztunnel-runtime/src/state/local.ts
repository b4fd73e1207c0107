// Istio ztunnel's local configuration file (LOCAL_XDS_PATH / LOCAL_XDS): YAML, camelCase, unknown fields rejected.
import { readFileSync } from 'node:fs';
import { parseYaml } from '../config/yaml.js';
import type { MeshConfig } from '@ambit/mesh-api';

type Schema =
  | { t: 'obj'; f: Record<string, Schema>; req?: string[] }
  | { t: 'arr'; of: Schema }
  | { t: 'map'; of: Schema }
  | { t: 'str' }
  | { t: 'num' }
  | { t: 'bool' }
  | { t: 'enum'; v: string[] }
  | { t: 'tagged'; v: Record<string, Schema> };

const str: Schema = { t: 'str' };
const num: Schema = { t: 'num' };
const bool: Schema = { t: 'bool' };
const strs: Schema = { t: 'arr', of: str };
const nums: Schema = { t: 'arr', of: num };
const portMap: Schema = { t: 'map', of: num };
const gateway: Schema = { t: 'obj', f: { destination: str, hboneMtlsPort: num }, req: ['destination'] };
const stringMatch: Schema = { t: 'tagged', v: { Exact: str, Prefix: str, Suffix: str, Presence: { t: 'arr', of: str } } };
const saMatch: Schema = { t: 'obj', f: { namespace: str, serviceAccount: str }, req: ['namespace', 'serviceAccount'] };
const match: Schema = {
  t: 'obj',
  f: {
    namespaces: { t: 'arr', of: stringMatch },
    notNamespaces: { t: 'arr', of: stringMatch },
    serviceAccounts: { t: 'arr', of: saMatch },
    notServiceAccounts: { t: 'arr', of: saMatch },
    principals: { t: 'arr', of: stringMatch },
    notPrincipals: { t: 'arr', of: stringMatch },
    sourceIps: strs,
    notSourceIps: strs,
    destinationIps: strs,
    notDestinationIps: strs,
    destinationPorts: nums,
    notDestinationPorts: nums,
  },
};
const workload: Schema = {
  t: 'obj',
  f: {
    uid: str,
    name: str,
    namespace: str,
    trustDomain: str,
    serviceAccount: str,
    workloadIps: strs,
    protocol: { t: 'enum', v: ['TCP', 'HBONE'] },
    node: str,
    network: str,
    workloadName: str,
    workloadType: { t: 'enum', v: ['deployment', 'cronjob', 'pod', 'job'] },
    canonicalName: str,
    canonicalRevision: str,
    hostname: str,
    nativeTunnel: bool,
    applicationTunnel: { t: 'obj', f: { protocol: { t: 'enum', v: ['NONE', 'PROXY'] }, port: num } },
    waypoint: gateway,
    networkGateway: gateway,
    networkMode: { t: 'enum', v: ['Standard', 'HostNetwork'] },
    authorizationPolicies: strs,
    status: { t: 'enum', v: ['Healthy', 'Unhealthy'] },
    clusterId: str,
    locality: { t: 'obj', f: { region: str, zone: str, subzone: str } },
    capacity: num,
    services: { t: 'map', of: portMap },
  },
  req: ['namespace', 'workloadIps'],
};
const service: Schema = {
  t: 'obj',
  f: {
    name: str,
    namespace: str,
    hostname: str,
    vips: strs,
    ports: portMap,
    appProtocols: { t: 'map', of: { t: 'enum', v: ['HTTP11', 'HTTP2', 'GRPC'] } },
    subjectAltNames: strs,
    canonical: bool,
    endpoints: {
      t: 'map',
      of: { t: 'obj', f: { workloadUid: str, service: str, port: portMap, status: { t: 'enum', v: ['Healthy', 'Unhealthy'] } }, req: ['workloadUid'] },
    },
    waypoint: gateway,
    weightedWaypoints: { t: 'arr', of: { t: 'obj', f: { waypoint: gateway, weight: num } } },
    loadBalancer: {
      t: 'obj',
      f: { routingPreferences: strs, mode: { t: 'enum', v: ['Standard', 'Strict', 'Failover'] }, healthPolicy: { t: 'enum', v: ['OnlyHealthy', 'AllowAll'] } },
    },
    ipFamilies: { t: 'enum', v: ['IPv4', 'IPv6', 'Dual'] },
    visibility: str,
    cidrVips: strs,
  },
  req: ['name', 'namespace', 'hostname'],
};
const policy: Schema = {
  t: 'obj',
  f: {
    name: str,
    namespace: str,
    scope: { t: 'enum', v: ['Global', 'Namespace', 'WorkloadSelector'] },
    action: { t: 'enum', v: ['Allow', 'Deny'] },
    dryRun: bool,
    rules: { t: 'arr', of: { t: 'arr', of: { t: 'arr', of: match } } },
  },
  req: ['name', 'namespace', 'scope', 'action', 'dryRun'],
};
const root: Schema = { t: 'obj', f: { workloads: { t: 'arr', of: workload }, services: { t: 'arr', of: service }, policies: { t: 'arr', of: policy } } };

export class LocalConfigError extends Error {}

function check(v: unknown, s: Schema, path: string): unknown {
  const where = path || 'top level';
  const fail = (what: string): never => {
    throw new LocalConfigError(`${where}: ${what}`);
  };
  switch (s.t) {
    case 'str':
      if (typeof v === 'number') return String(v);
      if (typeof v !== 'string') fail(`expected a string, got ${JSON.stringify(v)}`);
      return v;
    case 'num':
      if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
      if (typeof v !== 'number') fail(`expected a number, got ${JSON.stringify(v)}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail(`expected a boolean, got ${JSON.stringify(v)}`);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !s.v.includes(v)) fail(`unknown variant \`${String(v)}\`, expected one of ${s.v.map((x) => `\`${x}\``).join(', ')}`);
      return v;
    case 'arr':
      if (v == null) return [];
      if (!Array.isArray(v)) fail('expected a sequence');
      return (v as unknown[]).map((x, i) => check(x, s.of, `${path}[${i}]`));
    case 'map': {
      if (v == null) return {};
      if (typeof v !== 'object' || Array.isArray(v)) fail('expected a map');
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as object)) out[k] = check(x, s.of, `${path}.${k}`);
      return out;
    }
    case 'tagged': {
      if (typeof v !== 'object' || v == null || Array.isArray(v)) fail(`expected one of ${Object.keys(s.v).join(', ')}`);
      const keys = Object.keys(v as object);
      if (keys.length !== 1) fail(`expected exactly one of ${Object.keys(s.v).join(', ')}`);
      const k = keys[0]!;
      if (!(k in s.v)) fail(`unknown variant \`${k}\`, expected one of ${Object.keys(s.v).map((x) => `\`${x}\``).join(', ')}`);
      if (k === 'Presence') return { Presence: [] };
      return { [k]: check((v as Record<string, unknown>)[k], s.v[k]!, `${path}.${k}`) };
    }
    case 'obj': {
      if (v == null) v = {};
      if (typeof v !== 'object' || Array.isArray(v)) fail('expected a map');
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as object)) {
        const fs = s.f[k];
        if (!fs) fail(`unknown field \`${k}\`, expected one of ${Object.keys(s.f).map((x) => `\`${x}\``).join(', ')}`);
        out[k] = check(x, fs!, path ? `${path}.${k}` : k);
      }
      for (const r of s.req ?? []) if (!(r in out)) fail(`missing field \`${r}\``);
      return out;
    }
  }
}

/** Parses and validates a local config document (YAML or JSON text). Throws LocalConfigError naming the field. */
export function parseLocalConfig(text: string): MeshConfig {
  const doc = parseYaml(text) ?? {};
  const cfg = check(doc, root, '') as MeshConfig;
  cfg.workloads ??= [];
  cfg.services ??= [];
  cfg.policies ??= [];
  for (const w of cfg.workloads) {
    w.name ??= '';
    w.serviceAccount ??= 'default';
    w.protocol ??= 'TCP';
    w.uid ??= `${w.clusterId ?? 'Kubernetes'}//v1/Pod/${w.namespace}/${w.name}`;
  }
  for (const s of cfg.services) {
    s.vips ??= [];
    s.ports ??= {};
  }
  for (const p of cfg.policies) p.rules ??= [];
  return cfg;
}

export function loadLocalConfig(path: string): MeshConfig {
  try {
    return parseLocalConfig(readFileSync(path, 'utf8'));
  } catch (e) {
    if (e instanceof LocalConfigError) throw new LocalConfigError(`${path}: ${e.message}`);
    throw e;
  }
}
