import test from 'ava';
import { request } from 'undici';
import type { K8sObject } from '@ambit/plugin-sdk';
import { echo, service, startWaypoint, workload } from './helpers.js';

const vs = (http: unknown[]): K8sObject => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r', namespace: 'default' }, spec: { hosts: ['reviews'], http } });

async function get(url: string, host: string, path = '/') {
  const r = await request(url + path, { headers: { host } });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

test('route timeout -> 504 upstream request timeout (flag UT); fault abort -> local status', async (t) => {
  const slow = await echo('slow', (_req, res) => {
    setTimeout(() => res.end('late'), 1500);
    return true;
  });
  const mesh = { services: [service('reviews', '10.96.0.31', { 9080: 0 })], workloads: [workload('r', '127.0.0.1', 'r', { 'default/reviews.default.svc.cluster.local': { 9080: slow.port } })] };
  const h = await startWaypoint(mesh, [vs([{ match: [{ uri: { prefix: '/abort' } }], fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: [{ destination: { host: 'reviews' } }] }, { timeout: '200ms', route: [{ destination: { host: 'reviews' } }] }])]);
  try {
    const r = await get(h.url, 'reviews:9080');
    t.is(r.status, 504);
    t.is(r.body, 'upstream request timeout');
    const a = await get(h.url, 'reviews:9080', '/abort');
    t.is(a.status, 418);
    t.is(a.body, 'fault filter abort');
    t.true(h.accessLog.some((l) => l.includes('" 504 UT ')), h.accessLog.join('\n'));
  } finally {
    await h.close();
    await slow.close();
  }
});

test('a refused endpoint is retried on another endpoint (default retry policy: connect-failure)', async (t) => {
  const ok = await echo('ok');
  const mesh = {
    services: [service('reviews', '10.96.0.31', { 9080: 0 })],
    workloads: [
      workload('dead', '127.0.0.2', 'r', { 'default/reviews.default.svc.cluster.local': { 9080: 1 } }),
      workload('alive', '127.0.0.1', 'r', { 'default/reviews.default.svc.cluster.local': { 9080: ok.port } }),
    ],
  };
  const h = await startWaypoint(mesh, [{ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'default' }, spec: { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } } }]);
  try {
    for (let i = 0; i < 6; i++) t.is((await get(h.url, 'reviews:9080')).status, 200);
  } finally {
    await h.close();
    await ok.close();
  }
});

test('HTTPRoute RequestMirror sends a copy with a -shadow host; the client gets the primary response', async (t) => {
  const primary = await echo('primary');
  const shadow = await echo('shadow');
  const mesh = {
    services: [service('reviews', '10.96.0.31', { 9080: 0 }), service('reviews-v1', '10.96.0.32', { 9080: 0 }), service('reviews-v2', '10.96.0.33', { 9080: 0 })],
    workloads: [
      workload('v1', '127.0.0.1', 'r', { 'default/reviews-v1.default.svc.cluster.local': { 9080: primary.port } }),
      workload('v2', '127.0.0.1', 'r', { 'default/reviews-v2.default.svc.cluster.local': { 9080: shadow.port } }),
    ],
  };
  const route: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'm', namespace: 'default' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], rules: [{ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'reviews-v2', port: 9080 } } }], backendRefs: [{ name: 'reviews-v1', port: 9080 }] }] },
  };
  const h = await startWaypoint(mesh, [route]);
  try {
    const r = await get(h.url, 'reviews:9080', '/m');
    t.is(JSON.parse(r.body).server, 'primary');
    for (let i = 0; i < 50 && shadow.requests.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    t.is(shadow.requests[0]?.headers.host, 'reviews-shadow:9080');
    t.is(shadow.requests[0]?.url, '/m');
  } finally {
    await h.close();
    await primary.close();
    await shadow.close();
  }
});

test('HTTPRoute RequestRedirect and URLRewrite end to end', async (t) => {
  const app = await echo('app');
  const mesh = { services: [service('reviews', '10.96.0.31', { 9080: 0 })], workloads: [workload('r', '127.0.0.1', 'r', { 'default/reviews.default.svc.cluster.local': { 9080: app.port } })] };
  const route: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'rw', namespace: 'default' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'internal', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }], backendRefs: [{ name: 'reviews', port: 9080 }] },
      ],
    },
  };
  const h = await startWaypoint(mesh, [route]);
  try {
    const r = await get(h.url, 'reviews:9080', '/old/x?a=1');
    t.is(r.status, 302);
    t.is(r.headers.location, 'http://reviews:9080/new/x?a=1');
    const b = JSON.parse((await get(h.url, 'reviews:9080', '/api/items?a=1')).body);
    t.is(b.url, '/v2/items?a=1');
    t.is(b.headers.host, 'internal');
  } finally {
    await h.close();
    await app.close();
  }
});

test('HTTPRoute CORS filter on a mesh route (Service parent): the waypoint answers the preflight, the backend response gets allow-origin', async (t) => {
  const app = await echo('app');
  const mesh = { services: [service('reviews', '10.96.0.31', { 9080: 0 })], workloads: [workload('r', '127.0.0.1', 'r', { 'default/reviews.default.svc.cluster.local': { 9080: app.port } })] };
  const route: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'cors', namespace: 'default' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
      rules: [{ filters: [{ type: 'CORS', cors: { allowOrigins: ['https://*.example.com'], allowMethods: ['GET', 'PUT'], allowHeaders: ['x-a'], maxAge: 60 } }], backendRefs: [{ name: 'reviews', port: 9080 }] }],
    },
  };
  const h = await startWaypoint(mesh, [route]);
  try {
    const pre = await request(h.url + '/items', { method: 'OPTIONS', headers: { host: 'reviews:9080', origin: 'https://app.example.com', 'access-control-request-method': 'PUT' } });
    t.is(pre.statusCode, 200);
    t.is(await pre.body.text(), '');
    t.like(pre.headers, { 'access-control-allow-origin': 'https://app.example.com', 'access-control-allow-methods': 'GET, PUT', 'access-control-allow-headers': 'x-a', 'access-control-max-age': '60' });
    t.false('access-control-allow-credentials' in pre.headers);
    const other = await request(h.url + '/items', { method: 'OPTIONS', headers: { host: 'reviews:9080', origin: 'https://example.org', 'access-control-request-method': 'PUT' } });
    t.is(other.statusCode, 200);
    await other.body.dump();
    t.false('access-control-allow-origin' in other.headers);
    t.is(app.requests.length, 0);
    const r = await get(h.url, 'reviews:9080', '/items');
    t.false('access-control-allow-origin' in r.headers);
    const simple = await request(h.url + '/items', { headers: { host: 'reviews:9080', origin: 'https://app.example.com' } });
    t.is(simple.headers['access-control-allow-origin'], 'https://app.example.com');
    t.is((JSON.parse(await simple.body.text()) as { url: string }).url, '/items');
  } finally {
    await h.close();
    await app.close();
  }
});
