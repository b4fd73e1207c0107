import test from 'ava';
import { connect } from 'node:net';
import { duplexPair } from 'node:stream';
import { request } from 'undici';
import type { K8sObject } from '@ambit/plugin-sdk';
import { echo, service, startWaypoint, workload, type Echo } from './helpers.js';

const gwRef = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' };

function bookinfo(pp: Echo, v1: Echo, v2: Echo) {
  return {
    services: [
      service('productpage', '10.96.0.30', { 9080: 0 }),
      service('reviews', '10.96.0.31', { 9080: 0 }),
      service('reviews-v1', '10.96.0.32', { 9080: 0 }),
      service('reviews-v2', '10.96.0.33', { 9080: 0 }),
    ],
    workloads: [
      workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: pp.port } }),
      workload('reviews-v1', '127.0.0.2', 'bookinfo-reviews', {
        'default/reviews.default.svc.cluster.local': { 9080: v1.port },
        'default/reviews-v1.default.svc.cluster.local': { 9080: v1.port },
      }, { canonicalName: 'reviews', canonicalRevision: 'v1' }),
      workload('reviews-v2', '127.0.0.3', 'bookinfo-reviews', {
        'default/reviews.default.svc.cluster.local': { 9080: v2.port },
        'default/reviews-v2.default.svc.cluster.local': { 9080: v2.port },
      }, { canonicalName: 'reviews', canonicalRevision: 'v2' }),
    ],
  };
}

async function setup(resources: K8sObject[] = []) {
  const pp = await echo('productpage');
  const v1 = await echo('reviews-v1');
  const v2 = await echo('reviews-v2');
  // reviews-v2 listens on 127.0.0.1 too; the endpoint address must be where it listens
  const mesh = bookinfo(pp, v1, v2);
  for (const w of mesh.workloads) w.workloadIps = ['127.0.0.1'];
  const h = await startWaypoint(mesh, resources);
  return {
    ...h,
    pp,
    v1,
    v2,
    async teardown() {
      await h.close();
      await Promise.all([pp.close(), v1.close(), v2.close()]);
    },
  };
}

async function get(url: string, host: string, opts: { method?: string; headers?: Record<string, string>; path?: string } = {}) {
  const res = await request(url + (opts.path ?? '/'), { method: (opts.method ?? 'GET') as 'GET', headers: { host, ...(opts.headers ?? {}) } });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

test('a request is forwarded to the destination service, with x-request-id, its trace context untouched (tracing off), and measured', async (t) => {
  const h = await setup();
  try {
    const r = await get(h.url, 'productpage:9080', { path: '/productpage?u=1' });
    t.is(r.status, 200);
    const body = JSON.parse(r.body);
    t.is(body.server, 'productpage');
    t.is(body.url, '/productpage?u=1');
    t.is(body.headers.host, 'productpage:9080');
    t.regex(body.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    t.is(body.headers.traceparent, undefined, 'no trace is started while tracing is off');
    const traced = JSON.parse((await get(h.url, 'productpage:9080', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-request-id': 'abc' } })).body);
    t.is(traced.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    t.is(traced.headers['x-request-id'], 'abc');
    const metrics = await (await request(`http://127.0.0.1:${h.ports.metrics}/stats/prometheus`)).body.text();
    t.regex(metrics, /istio_requests_total\{reporter="waypoint",.*destination_workload="productpage-v1".*destination_service="productpage.default.svc.cluster.local".*request_protocol="http",response_code="200".*\} 2/);
    t.regex(metrics, /istio_request_duration_milliseconds_bucket\{reporter="waypoint"/);
    t.regex(metrics, /istio_response_bytes_sum\{/);
    t.true(h.accessLog.some((l) => l.includes('"GET /productpage?u=1 HTTP/1.1" 200 - via_upstream')));
    t.is((await request(`http://127.0.0.1:${h.ports.readiness}/healthz/ready`)).statusCode, 200);
  } finally {
    await h.teardown();
  }
});

test('L7 authorization: DELETE denied with 403 RBAC: access denied, GET allowed', async (t) => {
  const policy: K8sObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'productpage-viewer', namespace: 'default' },
    spec: { targetRef: gwRef, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
  };
  const h = await setup([policy]);
  try {
    t.is((await get(h.url, 'productpage:9080')).status, 200);
    const del = await get(h.url, 'productpage:9080', { method: 'DELETE' });
    t.is(del.status, 403);
    t.is(del.body, 'RBAC: access denied');
    t.is(h.pp.requests.filter((r) => r.method === 'DELETE').length, 0);
    const metrics = await (await request(`http://127.0.0.1:${h.ports.metrics}/stats/prometheus`)).body.text();
    t.regex(metrics, /response_code="403",grpc_response_status="",response_flags="-"/);
  } finally {
    await h.teardown();
  }
});

test('HTTPRoute (GAMMA) splits reviews by weight and applies header filters', async (t) => {
  const route: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
      rules: [
        {
          filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-routed', value: 'yes' }] } }],
          backendRefs: [
            { name: 'reviews-v1', port: 9080, weight: 50 },
            { name: 'reviews-v2', port: 9080, weight: 50 },
          ],
        },
      ],
    },
  };
  const h = await setup([route]);
  try {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const r = await get(h.url, 'reviews:9080', { path: '/reviews/1' });
      t.is(r.status, 200);
      const b = JSON.parse(r.body);
      t.is(b.headers['x-routed'], 'yes');
      seen[b.server] = (seen[b.server] ?? 0) + 1;
    }
    t.true((seen['reviews-v1'] ?? 0) > 5, JSON.stringify(seen));
    t.true((seen['reviews-v2'] ?? 0) > 5, JSON.stringify(seen));
  } finally {
    await h.teardown();
  }
});

test('VirtualService + DestinationRule subsets send everything to v2 at weight 100', async (t) => {
  const dr: K8sObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
  };
  const vs: K8sObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 0 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 100 }] }] },
  };
  const h = await setup([dr, vs]);
  try {
    for (let i = 0; i < 10; i++) t.is(JSON.parse((await get(h.url, 'reviews:9080')).body).server, 'reviews-v2');
  } finally {
    await h.teardown();
  }
});

test('request bodies stream to the upstream and are counted', async (t) => {
  const h = await setup();
  try {
    const res = await request(h.url + '/upload', { method: 'POST', headers: { host: 'productpage:9080', 'content-type': 'text/plain' }, body: 'x'.repeat(10000) });
    t.is(res.statusCode, 200);
    t.is(JSON.parse(await res.body.text()).body.length, 10000);
    const metrics = await (await request(`http://127.0.0.1:${h.ports.metrics}/stats/prometheus`)).body.text();
    t.regex(metrics, /istio_request_bytes_sum\{[^}]*\} 10000/);
  } finally {
    await h.teardown();
  }
});

test('backend reset before headers -> 503 Envoy-like body; connection refused -> 503; waypoint keeps serving', async (t) => {
  const reset = await echo('reset', (req) => {
    req.socket.destroy();
    return true;
  });
  const mesh = {
    services: [service('broken', '10.96.0.40', { 80: 0 }), service('gone', '10.96.0.41', { 80: 0 }), service('ok', '10.96.0.42', { 80: 0 })],
    workloads: [
      workload('broken', '127.0.0.1', 'broken', { 'default/broken.default.svc.cluster.local': { 80: reset.port } }),
      workload('gone', '127.0.0.2', 'gone', { 'default/gone.default.svc.cluster.local': { 80: 1 } }),
    ],
  };
  const ok = await echo('ok');
  mesh.workloads.push(workload('ok', '127.0.0.1', 'ok', { 'default/ok.default.svc.cluster.local': { 80: ok.port } }));
  const h = await startWaypoint(mesh);
  try {
    const b = await get(h.url, 'broken');
    t.is(b.status, 503);
    t.true(b.body.startsWith('upstream connect error or disconnect/reset before headers'), b.body);
    const g = await get(h.url, 'gone');
    t.is(g.status, 503);
    t.true(g.body.startsWith('upstream connect error or disconnect/reset before headers'), g.body);
    t.is((await get(h.url, 'ok')).status, 200);
    // Not a service or workload of the mesh: no route (Envoy's 404 NR), never a connection to wherever it names.
    const none = await get(h.url, 'unknown-host');
    t.is(none.status, 404);
    t.is((await get(h.url, '127.0.0.9:80')).status, 404);
  } finally {
    await h.close();
    await reset.close();
    await ok.close();
  }
});

function raw(port: number, data: string, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (c) => (out += c));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(data);
    setTimeout(() => {
      s.destroy();
      resolve(out);
    }, waitMs);
  });
}

test('malformed HTTP -> 400, oversized headers -> 431, stalled client -> 408; then still serving', async (t) => {
  const pp = await echo('productpage');
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: 0 })],
    workloads: [workload('pp', '127.0.0.1', 'pp', { 'default/productpage.default.svc.cluster.local': { 9080: pp.port } })],
  };
  const h = await startWaypoint(mesh, [], { limits: { maxHeaderSize: 8192, headersTimeoutMs: 300, requestTimeoutMs: 300, checkIntervalMs: 50 } });
  try {
    t.regex(await raw(h.ports.http!, 'GARBAGE\r\n\r\n'), /^HTTP\/1.1 400/);
    t.regex(await raw(h.ports.http!, `GET / HTTP/1.1\r\nhost: productpage:9080\r\nx-big: ${'a'.repeat(10000)}\r\n\r\n`), /^HTTP\/1.1 431/);
    t.regex(await raw(h.ports.http!, 'GET / HTTP/1.1\r\nhost: product', 5000), /^HTTP\/1.1 408/);
    t.is((await get(h.url, 'productpage:9080')).status, 200);
  } finally {
    await h.close();
    await pp.close();
  }
});

test('HTTP/1.1 over any Duplex (an HBONE stream) carries the peer SPIFFE identity and CONNECT authority', async (t) => {
  const policy: K8sObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'only-sleep', namespace: 'default' },
    spec: { targetRef: gwRef, rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] }] },
  };
  const h = await setup([policy]);
  try {
    const exchange = async (principal: string) => {
      const [a, b] = duplexPair();
      h.waypoint.serve(a, { principal, authority: '10.96.0.30:9080', clientAddress: '10.244.0.7', clientPort: 40000 });
      let out = '';
      b.on('data', (c) => (out += c));
      b.write('GET /p HTTP/1.1\r\nhost: productpage:9080\r\nconnection: close\r\n\r\n');
      await new Promise((r) => b.on('end', r));
      return out;
    };
    const ok = await exchange('spiffe://cluster.local/ns/default/sa/sleep');
    t.regex(ok, /^HTTP\/1.1 200 OK/);
    t.regex(ok, /"server":"productpage"/);
    const denied = await exchange('spiffe://cluster.local/ns/default/sa/notsleep');
    t.regex(denied, /^HTTP\/1.1 403 Forbidden/);
    t.regex(denied, /RBAC: access denied$/);
    t.true(h.accessLog.some((l) => l.includes('10.244.0.7:40000') && l.includes('src.identity="spiffe://cluster.local/ns/default/sa/sleep"')));
  } finally {
    await h.teardown();
  }
});

test('graceful drain: readiness turns 503 while in-flight requests finish', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = await echo('slow', (_req, res) => {
    gate.then(() => res.end('done'));
    return true;
  });
  const mesh = { services: [service('slow', '10.96.0.50', { 80: 0 })], workloads: [workload('slow', '127.0.0.1', 'slow', { 'default/slow.default.svc.cluster.local': { 80: slow.port } })] };
  const h = await startWaypoint(mesh);
  const inflight = get(h.url, 'slow');
  // wait until the request is in flight at the upstream
  for (let i = 0; i < 500 && slow.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const closing = h.waypoint.close(5000);
  t.false(h.waypoint.ready);
  release();
  const r = await inflight;
  t.is(r.status, 200);
  t.is(r.body, 'done');
  await closing;
  await slow.close();
});
