// Which span export each waypoint does, as Istio decides it: the mesh config (ConfigMap `istio`, key `mesh`, in
// the root namespace) names `extensionProviders`; Telemetry resources choose one for tracing, mesh-wide (root
// namespace, no selector), per namespace, or per waypoint (`targetRefs` to its Gateway), the more specific one
// overriding field by field; `defaultProviders.tracing` applies when no Telemetry names a provider. Only OTLP/HTTP
// `opentelemetry` providers are exported to; anything unusable is a warning naming the object and field.

import { parse as parseYaml } from 'yaml';
import { tryParseGoDuration, type TracingConfig } from '@ambit/mesh-api';
import type { KubeObject } from '../kube/resources.js';
import { nsName } from './model.js';
import { GATEWAY_API_GROUP, resolveHost, targetRefsOf } from './resources.js';

/** The ConfigMap of the root namespace that holds Istio's mesh config (key `mesh`). */
export const MESH_CONFIGMAP = 'istio';
/** Istio's default sampling when neither a Telemetry nor `defaultConfig.tracing.sampling` sets one (percent). */
export const DEFAULT_SAMPLING_PERCENTAGE = 1;

/** A model warning (build.ts's ModelWarning, kept structural so this module does not import the builder). */
interface ModelWarning {
  object: string;
  reason: string;
  message: string;
}

interface Provider {
  name: string;
  /** Absent when the provider cannot be used (the warning says why). */
  tracing?: Omit<TracingConfig, 'randomSamplingPercentage' | 'disableSpanReporting'>;
}

interface TracingFields {
  providers?: string[];
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
}

export interface TracingResolver {
  /** The tracing of the waypoint (or ingress gateway) `namespace/name`; undefined: off. */
  forWaypoint(namespace: string, name: string): TracingConfig | undefined;
  warnings: ModelWarning[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readMeshConfig(cms: KubeObject[], rootNamespace: string, warnings: ModelWarning[]): Record<string, unknown> {
  const cm = cms.find((c) => c.metadata.namespace === rootNamespace && c.metadata.name === MESH_CONFIGMAP);
  const text = (cm as { data?: Record<string, string> } | undefined)?.data?.mesh;
  if (!cm || !text) return {};
  const object = `ConfigMap ${nsName(cm)}`;
  try {
    const doc: unknown = parseYaml(text);
    if (doc === null || doc === undefined) return {};
    if (!isObj(doc)) throw new Error('expected a YAML mapping');
    return doc;
  } catch (err) {
    warnings.push({ object, reason: 'InvalidMeshConfig', message: `data.mesh: ${(err as Error).message}; tracing stays off until it parses` });
    return {};
  }
}

function readProviders(mesh: Record<string, unknown>, object: string, domain: string, warnings: ModelWarning[]): Map<string, Provider> {
  const out = new Map<string, Provider>();
  const list = mesh.extensionProviders;
  if (list === undefined) return out;
  if (!Array.isArray(list)) {
    warnings.push({ object, reason: 'InvalidMeshConfig', message: 'data.mesh extensionProviders: expected a list' });
    return out;
  }
  list.forEach((p: unknown, i) => {
    const field = `data.mesh extensionProviders[${i}]`;
    if (!isObj(p) || typeof p.name !== 'string' || !p.name) {
      warnings.push({ object, reason: 'InvalidMeshConfig', message: `${field}.name: expected a non-empty string` });
      return;
    }
    const name = p.name;
    const warn = (f: string, what: string): void => void warnings.push({ object, reason: 'InvalidMeshConfig', message: `${field}.${f} (provider ${JSON.stringify(name)}): ${what}` });
    if (out.has(name)) return warn('name', 'duplicate provider name; the first one is used');
    const otel = p.opentelemetry;
    if (!isObj(otel)) {
      // zipkin, prometheus, envoyFileAccessLog...: not a span exporter Ambit's waypoints run (no warning unless chosen).
      out.set(name, { name });
      return;
    }
    out.set(name, { name });
    if (typeof otel.service !== 'string' || !otel.service) return warn('opentelemetry.service', 'expected the collector Service (`<name>.<namespace>.svc.cluster.local` or `<namespace>/<hostname>`)');
    if (typeof otel.port !== 'number' || !Number.isInteger(otel.port) || otel.port < 1 || otel.port > 65535) return warn('opentelemetry.port', `expected a port from 1 to 65535, got ${JSON.stringify(otel.port)}`);
    if (!isObj(otel.http)) return warn('opentelemetry.http', 'OTLP/gRPC is not supported by Ambit waypoints: set http.path (e.g. /v1/traces) and the collector\'s OTLP/HTTP port (4318)');
    const path = otel.http.path === undefined ? '/v1/traces' : otel.http.path;
    if (typeof path !== 'string' || !path.startsWith('/')) return warn('opentelemetry.http.path', 'expected a path starting with /');
    let timeoutMs: number | undefined;
    if (otel.http.timeout !== undefined) {
      timeoutMs = typeof otel.http.timeout === 'string' ? tryParseGoDuration(otel.http.timeout) : undefined;
      if (!timeoutMs || timeoutMs <= 0) return warn('opentelemetry.http.timeout', `expected a duration such as 5s, got ${JSON.stringify(otel.http.timeout)}`);
    }
    const headers: Record<string, string> = {};
    if (otel.http.headers !== undefined) {
      if (!Array.isArray(otel.http.headers)) return warn('opentelemetry.http.headers', 'expected a list of {name, value}');
      for (const [j, h] of (otel.http.headers as unknown[]).entries()) {
        if (!isObj(h) || typeof h.name !== 'string' || typeof h.value !== 'string') return warn(`opentelemetry.http.headers[${j}]`, 'expected {name, value} with a literal value (envName is not supported)');
        headers[h.name.toLowerCase()] = h.value;
      }
    }
    // `namespace/hostname` or a hostname (a short one is resolved in no namespace: give the FQDN).
    const svc = otel.service.includes('/') ? otel.service.slice(otel.service.indexOf('/') + 1) : otel.service;
    const host = svc.includes('.') ? resolveHost(svc, svc.split('.')[1] ?? '', domain) : svc;
    out.set(name, {
      name,
      tracing: {
        provider: name,
        endpoint: `http://${host}:${otel.port}${path}`,
        ...(timeoutMs ? { timeoutMs: Math.round(timeoutMs) } : {}),
        ...(Object.keys(headers).length ? { headers } : {}),
      },
    });
  });
  return out;
}

/** The first `tracing` entry of a Telemetry (Istio applies one), checked. */
function readTelemetry(t: KubeObject, warnings: ModelWarning[]): TracingFields | undefined {
  const spec = (t as { spec?: unknown }).spec;
  if (!isObj(spec) || spec.tracing === undefined) return undefined;
  const object = `Telemetry ${nsName(t)}`;
  const warn = (field: string, what: string): void => void warnings.push({ object, reason: 'InvalidTelemetry', message: `${field}: ${what}` });
  if (!Array.isArray(spec.tracing) || !spec.tracing.length) return undefined;
  if (spec.tracing.length > 1) warn('spec.tracing', 'only the first entry is applied');
  const e: unknown = spec.tracing[0];
  if (!isObj(e)) {
    warn('spec.tracing[0]', 'expected an object');
    return undefined;
  }
  const out: TracingFields = {};
  if (e.providers !== undefined) {
    const names = Array.isArray(e.providers) ? e.providers.map((p: unknown) => (isObj(p) && typeof p.name === 'string' ? p.name : undefined)) : [undefined];
    if (names.some((n) => n === undefined)) warn('spec.tracing[0].providers', 'expected a list of {name}');
    const ok = names.filter((n): n is string => !!n);
    if (ok.length > 1) warn('spec.tracing[0].providers', `only one tracing provider per workload is supported; ${JSON.stringify(ok[0])} is used`);
    out.providers = ok.slice(0, 1);
  }
  const pct = e.randomSamplingPercentage;
  if (pct !== undefined) {
    if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) warn('spec.tracing[0].randomSamplingPercentage', `expected a number from 0 to 100, got ${JSON.stringify(pct)}`);
    else out.randomSamplingPercentage = pct;
  }
  if (e.disableSpanReporting !== undefined) {
    if (typeof e.disableSpanReporting !== 'boolean') warn('spec.tracing[0].disableSpanReporting', 'expected true or false');
    else out.disableSpanReporting = e.disableSpanReporting;
  }
  return out;
}

const merge = (base: TracingFields, over: TracingFields | undefined): TracingFields => ({
  ...base,
  ...(over?.providers !== undefined ? { providers: over.providers } : {}),
  ...(over?.randomSamplingPercentage !== undefined ? { randomSamplingPercentage: over.randomSamplingPercentage } : {}),
  ...(over?.disableSpanReporting !== undefined ? { disableSpanReporting: over.disableSpanReporting } : {}),
});

/** Does Telemetry `t` target the Gateway `ns/name` (targetRef or targetRefs, in its own namespace)? */
function targetsGateway(t: KubeObject, ns: string, name: string): boolean {
  if (t.metadata.namespace !== ns) return false;
  return targetRefsOf(t).some((r) => r.kind === 'Gateway' && (r.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && r.name === name);
}

const scopeless = (t: KubeObject): boolean => {
  const spec = (t as { spec?: Record<string, unknown> }).spec ?? {};
  return spec.selector === undefined && !targetRefsOf(t).length;
};

export function resolveTracing(input: { meshConfigs?: KubeObject[]; telemetries?: KubeObject[] }, opts: { rootNamespace: string; domain: string }): TracingResolver {
  const warnings: ModelWarning[] = [];
  const mesh = readMeshConfig(input.meshConfigs ?? [], opts.rootNamespace, warnings);
  const meshObject = `ConfigMap ${opts.rootNamespace}/${MESH_CONFIGMAP}`;
  const providers = readProviders(mesh, meshObject, opts.domain, warnings);
  let defaults: TracingFields = {};
  const dp = isObj(mesh.defaultProviders) ? mesh.defaultProviders.tracing : undefined;
  if (Array.isArray(dp) && dp.length && typeof dp[0] === 'string') defaults.providers = [dp[0]];
  const dc = isObj(mesh.defaultConfig) && isObj(mesh.defaultConfig.tracing) ? mesh.defaultConfig.tracing.sampling : undefined;
  defaults.randomSamplingPercentage = typeof dc === 'number' && dc >= 0 && dc <= 100 ? dc : DEFAULT_SAMPLING_PERCENTAGE;

  // Oldest first: with two scopeless Telemetries in one namespace (invalid in Istio), the older one applies.
  const telemetries = [...(input.telemetries ?? [])].sort((a, b) => `${a.metadata.creationTimestamp ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.creationTimestamp ?? ''}/${b.metadata.name}`));
  const fields = new Map(telemetries.map((t) => [t, readTelemetry(t, warnings)]));
  const root = telemetries.find((t) => t.metadata.namespace === opts.rootNamespace && scopeless(t));
  defaults = merge(defaults, root && fields.get(root));

  // A provider name no extensionProvider declares: said once per Telemetry that names it.
  for (const [t, f] of fields) {
    const name = f?.providers?.[0];
    if (name && !providers.has(name)) warnings.push({ object: `Telemetry ${nsName(t)}`, reason: 'InvalidTelemetry', message: `spec.tracing[0].providers[0].name: no extensionProvider ${JSON.stringify(name)} in the mesh config (${meshObject}, data.mesh extensionProviders)` });
  }
  const warned = new Set<string>();
  return {
    warnings,
    forWaypoint(namespace: string, name: string): TracingConfig | undefined {
      const nsT = namespace === opts.rootNamespace ? undefined : telemetries.find((t) => t.metadata.namespace === namespace && scopeless(t));
      const own = telemetries.find((t) => targetsGateway(t, namespace, name));
      const f = merge(merge(defaults, nsT && fields.get(nsT)), own && fields.get(own));
      const pname = f.providers?.[0];
      if (!pname) return undefined;
      const p = providers.get(pname);
      if (!p) return undefined;
      if (!p.tracing) {
        if (!warned.has(pname)) {
          warned.add(pname);
          warnings.push({ object: meshObject, reason: 'UnsupportedValue', message: `data.mesh extensionProviders ${JSON.stringify(pname)}: chosen for tracing but not a usable OTLP/HTTP opentelemetry provider; tracing stays off` });
        }
        return undefined;
      }
      return { ...p.tracing, randomSamplingPercentage: f.randomSamplingPercentage ?? DEFAULT_SAMPLING_PERCENTAGE, ...(f.disableSpanReporting ? { disableSpanReporting: true } : {}) };
    },
  };
}
