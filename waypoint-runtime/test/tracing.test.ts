import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { echo, service, startWaypoint, workload } from './helpers.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

/** A loopback OTLP/HTTP receiver decoding the JSON body of POST /v1/traces. */
async function collector(): Promise<{ server: Server; url: string; spans: OtlpSpan[]; service: string[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const svc: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        const doc = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of doc.resourceSpans) {
          svc.push(String(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue));
          for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { server, url, spans, service: svc, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const attr = (s: OtlpSpan, k: string): unknown => {
  const v = s.attributes.find((a) => a.key === k)?.value;
  return v && (v.stringValue ?? v.intValue ?? v.boolValue);
};

async function until<T>(f: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('tracing on: B3 is continued through the waypoint and a server span reaches the OTLP collector with the incoming trace and parent', async (t) => {
  const otel = await collector();
  const pp = await echo('productpage', (req, res) => {
    if (req.url !== '/fail') return false;
    res.writeHead(503);
    res.end('down');
    return true;
  });
  const h = await startWaypoint({ services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: pp.port } })] });
  try {
    h.source.set({
      mesh: { services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: pp.port } })] },
      resources: [],
      tracing: { provider: 'otel', endpoint: otel.url, randomSamplingPercentage: 0 },
    });
    // The SDK loads in the background: until then requests are not traced (B3 headers come back unchanged).
    const upstream = await until(async () => {
      const res = await request(`${h.url}/productpage`, { headers: { host: 'productpage:9080', 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' } });
      const body = JSON.parse(await res.body.text()) as { headers: Record<string, string> };
      return body.headers['x-b3-spanid'] !== SPAN ? body.headers : undefined;
    });
    t.is(upstream['x-b3-traceid'], TRACE);
    t.is(upstream['x-b3-parentspanid'], SPAN);
    t.is(upstream['x-b3-sampled'], '1', 'the prior decision wins over randomSamplingPercentage 0');
    const mine = upstream['x-b3-spanid']!;
    t.is(upstream.traceparent, `00-${TRACE}-${mine}-01`);

    const span = await until(() => otel.spans.find((s) => s.spanId === mine));
    t.is(span.traceId, TRACE);
    t.is(span.parentSpanId, SPAN);
    t.is(span.kind, 2, 'SPAN_KIND_SERVER');
    t.is(span.name, 'productpage.default.svc.cluster.local:9080/*');
    t.is(attr(span, 'http.method'), 'GET');
    t.is(Number(attr(span, 'http.status_code')), 200);
    t.is(attr(span, 'upstream_cluster'), 'outbound|9080||productpage.default.svc.cluster.local');
    t.not(span.status?.code, 2);
    t.true(otel.service.includes('waypoint.default'));

    // A 5xx is an error span; an unsampled new trace sends nothing.
    const failed = JSON.parse(JSON.stringify((await request(`${h.url}/fail`, { headers: { host: 'productpage:9080', traceparent: `00-${TRACE}-${SPAN}-01` } })).statusCode));
    t.is(failed, 503);
    const err = await until(() => otel.spans.find((s) => Number(attr(s, 'http.status_code')) === 503));
    t.is(err.status?.code, 2, 'STATUS_CODE_ERROR');
    t.is(err.traceId, TRACE);
  } finally {
    await h.close();
    await Promise.all([pp.close(), otel.close()]);
  }
});

test('an unreachable collector never fails requests and is logged once, naming the endpoint', async (t) => {
  const pp = await echo('productpage');
  const lines: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string, f?: object) => void lines.push(`${m} ${JSON.stringify(f)}`), error: (m: string, f?: object) => void lines.push(`${m} ${JSON.stringify(f)}`), child() { return logger; } };
  const dead = await collector();
  const endpoint = dead.url;
  await dead.close(); // nothing listens there any more
  const mesh = { services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: pp.port } })] };
  const h = await startWaypoint(mesh, [], { logger });
  try {
    h.source.set({ mesh, resources: [], tracing: { provider: 'otel', endpoint, randomSamplingPercentage: 100, timeoutMs: 500 } });
    await until(async () => {
      const res = await request(`${h.url}/`, { headers: { host: 'productpage:9080' } });
      t.is(res.statusCode, 200);
      const body = JSON.parse(await res.body.text()) as { headers: Record<string, string> };
      return body.headers['x-b3-traceid'];
    });
    for (let i = 0; i < 20; i++) t.is((await request(`${h.url}/`, { headers: { host: 'productpage:9080' } })).statusCode, 200);
    await until(() => lines.find((l) => l.startsWith('span export failed')));
    const failures = lines.filter((l) => l.startsWith('span export failed'));
    t.is(failures.length, 1);
    t.true(failures[0]!.includes(endpoint));
  } finally {
    await h.close();
    await pp.close();
  }
});
