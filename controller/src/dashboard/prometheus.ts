// A Prometheus HTTP API client for instant queries, over a plain URL or the API server's service proxy, that turns
// every failure into one PrometheusError saying what is wrong, so the dashboard can show it instead of a blank page.
import http from 'node:http';
import https from 'node:https';
import type { KubeClient } from '../kube/client.js';
import { KubeError } from '../kube/client.js';

export type Labels = Record<string, string>;
export interface Sample {
  metric: Labels;
  value: number;
}

/** `unreachable`: no answer (connection refused, DNS, timeout, no endpoints); `http`: an answer that is not the API's; `query`: the API refused the query. */
export type PrometheusErrorKind = 'unreachable' | 'http' | 'query';

export class PrometheusError extends Error {
  constructor(
    message: string,
    readonly kind: PrometheusErrorKind,
  ) {
    super(message);
  }
}

/** GETs `api/v1/<path>` with a query string; resolves with the status code and body text. */
export type PrometheusTransport = (apiPath: string, query: Record<string, string>) => Promise<{ status: number; body: string }>;

/** Largest answer read from Prometheus; the queries are bounded by topk, so a bigger one is a broken server. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 10_000;

/** Prometheus at a URL (`http://127.0.0.1:9090`, or with a path prefix `http://host/prometheus/`). */
export function urlTransport(base: string): PrometheusTransport {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new PrometheusError(`--prometheus-url "${base}" is not a URL (expected e.g. http://127.0.0.1:9090)`, 'query');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PrometheusError(`--prometheus-url "${base}" must be an http:// or https:// URL`, 'query');
  const prefix = url.pathname.replace(/\/+$/, '');
  return (apiPath, query) =>
    new Promise((resolve, reject) => {
      const target = new URL(`${prefix}/api/v1/${apiPath}`, url);
      for (const [k, v] of Object.entries(query)) target.searchParams.set(k, v);
      const mod = target.protocol === 'https:' ? https : http;
      const req = mod.get(target, { headers: { accept: 'application/json' }, timeout: TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy();
            reject(new PrometheusError(`Prometheus at ${base} sent more than ${MAX_RESPONSE_BYTES} bytes for one query`, 'http'));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => reject(new PrometheusError(`cannot read from Prometheus at ${base}: ${e.message}`, 'unreachable')));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
      req.on('error', (e: Error & { code?: string }) => reject(new PrometheusError(`cannot reach Prometheus at ${base}: ${e.code ?? e.message}`, 'unreachable')));
    });
}

/** The API server's service proxy path to a Service port (`http:prometheus:9090`). */
export function serviceProxyPath(namespace: string, service: string, port: number): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/http:${encodeURIComponent(service)}:${port}/proxy`;
}

/** Prometheus behind the Kubernetes API server's service proxy, with the CLI's credentials. */
export function serviceProxyTransport(client: KubeClient, namespace: string, service: string, port: number): PrometheusTransport {
  const base = serviceProxyPath(namespace, service, port);
  const where = `Service ${namespace}/${service}:${port} (through the API server at ${client.access.server})`;
  return async (apiPath, query) => {
    try {
      const body = await client.request<unknown>({ path: `${base}/api/v1/${apiPath}`, query, timeoutMs: TIMEOUT_MS });
      return { status: 200, body: typeof body === 'string' ? body : JSON.stringify(body) };
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      if (err.unreachable) throw new PrometheusError(`${err.message} (is the cluster running? check --kubeconfig / KUBECONFIG)`, 'unreachable');
      if (err.notFound && /services? .*not found/i.test(err.message)) throw new PrometheusError(`${where} does not exist`, 'unreachable');
      if (err.code === 503 || err.code === 502 || err.code === 504) throw new PrometheusError(`${where} does not answer: ${err.message}`, 'unreachable');
      if (err.forbidden) throw new PrometheusError(`permission denied reading ${where}: ${err.message} (the dashboard needs get on services/proxy in ${namespace})`, 'http');
      // The proxy passes Prometheus' own 4xx answers through (a bad query): keep their JSON.
      if (err.code === 400 || err.code === 422) return { status: err.code, body: JSON.stringify({ status: 'error', error: err.message }) };
      throw new PrometheusError(`${where} answered HTTP ${err.code}: ${err.message}`, 'http');
    }
  };
}

/** One instant query; the result vector's samples (NaN and infinities dropped). */
export async function instantQuery(transport: PrometheusTransport, promql: string): Promise<Sample[]> {
  const { status, body } = await transport('query', { query: promql });
  let parsed: { status?: string; error?: string; data?: { resultType?: string; result?: Array<{ metric?: Labels; value?: [number, string] }> } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new PrometheusError(`the answer (HTTP ${status}) is not Prometheus' JSON API: is the URL a Prometheus server?`, 'http');
  }
  if (parsed.status !== 'success') {
    if (status >= 500 && !parsed.error) throw new PrometheusError(`Prometheus answered HTTP ${status}`, 'http');
    throw new PrometheusError(`Prometheus refused the query: ${parsed.error ?? `HTTP ${status}`}`, status >= 500 ? 'http' : 'query');
  }
  if (parsed.data?.resultType !== 'vector' || !Array.isArray(parsed.data.result)) throw new PrometheusError(`Prometheus answered a ${parsed.data?.resultType ?? 'missing'} result where a vector was expected`, 'http');
  const out: Sample[] = [];
  for (const r of parsed.data.result) {
    const v = Number(r.value?.[1]);
    if (!Number.isFinite(v)) continue;
    out.push({ metric: r.metric ?? {}, value: v });
  }
  return out;
}
