// The waypoint runtime in the ingress role: sockets per listener port, TLS by SNI, the listener picked by Host,
// only the listener's routes, and forwarding into the mesh (to a Service's waypoint over HBONE with the gateway's
// own identity). Real sockets on loopback; listener ports are free ports picked per test.
import test from 'ava';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { connect as http2Connect } from 'node:http2';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import type { IngressListener } from '@ambit/mesh-api';
import { CertificateManager, createRootCA, HboneServer, LocalCA } from '@ambit/mesh-api';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { HboneConnector, StaticConfigSource, StreamDuplex, Waypoint, type WaypointSnapshot } from '../src/index.js';
import { echo, service, workload, freePort } from './helpers.js';

const GW = 'gateway.networking.k8s.io';


function listener(name: string, targetPort: number, routes: string[], extra: Partial<IngressListener> = {}): IngressListener {
  return { name, parent: { group: GW, namespace: 'istio-system', name: 'bookinfo-gateway' }, port: 80, targetPort, protocol: 'HTTP', routes, ...extra };
}

function httpRoute(name: string, backend: string, port: number, spec: Record<string, unknown> = {}, ns = 'default'): K8sObject {
  return {
    apiVersion: `${GW}/v1`,
    kind: 'HTTPRoute',
    metadata: { name, namespace: ns, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'bookinfo-gateway', namespace: 'istio-system' }], rules: [{ backendRefs: [{ name: backend, port }] }], ...spec },
  };
}

const key = (o: K8sObject) => `${o.kind}.${o.apiVersion.split('/')[0]}/${o.metadata.namespace}/${o.metadata.name}`;

interface Logged {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

async function gateway(snapshot: WaypointSnapshot, opts: { connector?: HboneConnector } = {}) {
  const logs: Logged[] = [];
  const logger = {
    debug: (msg: string, fields?: Record<string, unknown>) => void logs.push({ level: 'debug', msg, fields }),
    info: (msg: string, fields?: Record<string, unknown>) => void logs.push({ level: 'info', msg, fields }),
    warn: (msg: string, fields?: Record<string, unknown>) => void logs.push({ level: 'warn', msg, fields }),
    error: (msg: string, fields?: Record<string, unknown>) => void logs.push({ level: 'error', msg, fields }),
    child() {
      return this;
    },
  };
  const source = new StaticConfigSource(snapshot);
  const waypoint = new Waypoint({
    identity: { name: 'bookinfo-gateway', namespace: 'istio-system', serviceAccount: 'bookinfo-gateway-istio' },
    source,
    connector: opts.connector,
    accessLog: { write: () => {} },
    logger,
    ingress: { host: '127.0.0.1', drainMs: 200 },
  });
  await waypoint.start();
  await waypoint.ingressSettled();
  const { readiness } = await waypoint.listen({ readiness: { port: 0, host: '127.0.0.1' } });
  return { waypoint, source, logs, readiness: readiness!, close: () => waypoint.close(100) };
}

function get(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const mesh = (backendPort: number): { services: ServiceView[]; workloads: WorkloadView[] } => ({
  services: [service('productpage', '10.96.0.30', { 9080: backendPort })],
  workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: backendPort } })],
});

test.serial('HTTP listener + HTTPRoute: the backend answers; a Host no listener serves gets 404; X-Forwarded-For is appended', async (t) => {
  const app = await echo('productpage');
  const port = await freePort();
  const route = httpRoute('bookinfo', 'productpage', 9080, { hostnames: ['bookinfo.example.com'] });
  const gw = await gateway({ mesh: mesh(app.port), resources: [route], ingress: { listeners: [listener('http', port, [key(route)], { hostnames: ['*.example.com'] })] } });
  try {
    t.is((await get(gw.readiness, 'x', '/healthz/ready')).status, 200);
    const ok = await get(port, 'bookinfo.example.com', '/productpage', { 'x-forwarded-for': '203.0.113.9' });
    t.is(ok.status, 200);
    const seen = JSON.parse(ok.body) as { server: string; url: string; headers: Record<string, string> };
    t.is(seen.server, 'productpage');
    t.is(seen.url, '/productpage');
    t.is(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    t.is(seen.headers['x-forwarded-proto'], 'http');
    // The listener serves *.example.com; other.example.com has no route; example.org no listener.
    t.is((await get(port, 'other.example.com')).status, 404);
    t.is((await get(port, 'example.org')).status, 404);
    // Never a forward proxy: a mesh Service's own name as Host is not a route.
    t.is((await get(port, 'productpage.default.svc.cluster.local:9080')).status, 404);
    t.is(app.requests.length, 1);
  } finally {
    await gw.close();
    await app.close();
  }
});

test.serial('a backendRef that does not resolve answers 500; no rule matching the path 404', async (t) => {
  const port = await freePort();
  const route = httpRoute('bookinfo', 'nowhere', 9080, { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'nowhere', port: 9080 }] }] });
  const gw = await gateway({ mesh: mesh(1), resources: [route], ingress: { listeners: [listener('http', port, [key(route)])] } });
  try {
    t.is((await get(port, 'any.example.com', '/api/x')).status, 500);
    t.is((await get(port, 'any.example.com', '/other')).status, 404);
  } finally {
    await gw.close();
  }
});

function selfSigned(cn: string) {
  const ca = createRootCA({ commonName: cn });
  return { certChain: ca.certPem, privateKey: ca.keyPem };
}

function tlsGet(port: number, servername: string, host: string, path: string): Promise<{ cn: string; alpn: string | false | null; response: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const cn = String(s.getPeerCertificate().subject.CN);
      const alpn = s.alpnProtocol;
      let response = '';
      s.on('data', (c) => (response += c));
      s.on('end', () => resolve({ cn, alpn, response }));
      s.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
    });
    s.on('error', reject);
  });
}

test.serial('two HTTPS listeners on one port: each SNI gets its certificate and its route', async (t) => {
  const a = await echo('app-a');
  const b = await echo('app-b');
  const port = await freePort();
  const m = {
    services: [service('a', '10.96.0.41', { 8080: a.port }), service('b', '10.96.0.42', { 8080: b.port })],
    workloads: [
      workload('a-1', '127.0.0.1', 'a', { 'default/a.default.svc.cluster.local': { 8080: a.port } }),
      workload('b-1', '127.0.0.2', 'b', { 'default/b.default.svc.cluster.local': { 8080: b.port } }),
    ],
  };
  // b's workload answers on 127.0.0.1 too (loopback): point its address there.
  m.workloads[1]!.workloadIps = ['127.0.0.1'];
  m.workloads[0]!.services = { 'default/a.default.svc.cluster.local': { 8080: a.port } };
  const ra = httpRoute('route-a', 'a', 8080, { hostnames: ['a.example.com'] });
  const rb = httpRoute('route-b', 'b', 8080, { hostnames: ['b.example.com'] });
  const tls = (cn: string) => ({ mode: 'Terminate' as const, certificates: [selfSigned(cn)] });
  const listeners = [
    listener('https-a', port, [key(ra)], { protocol: 'HTTPS', port: 443, hostnames: ['a.example.com'], tls: tls('a.example.com') }),
    listener('https-b', port, [key(rb)], { protocol: 'HTTPS', port: 443, hostnames: ['*.b.example.com', 'b.example.com'], tls: tls('b.example.com') }),
  ];
  const gw = await gateway({ mesh: m, resources: [ra, rb], ingress: { listeners } });
  try {
    const ga = await tlsGet(port, 'a.example.com', 'a.example.com', '/one');
    t.is(ga.cn, 'a.example.com');
    t.is(ga.alpn, 'http/1.1');
    t.regex(ga.response, /^HTTP\/1.1 200/);
    t.regex(ga.response, /"server":"app-a"/);
    t.regex(ga.response, /"x-forwarded-proto":"https"/);
    const gb = await tlsGet(port, 'b.example.com', 'b.example.com', '/two');
    t.is(gb.cn, 'b.example.com');
    t.regex(gb.response, /"server":"app-b"/);
    // A wildcard SNI gets the wildcard listener's certificate; an unknown SNI the first listener's (default).
    t.is((await tlsGet(port, 'x.b.example.com', 'b.example.com', '/')).cn, 'b.example.com');
    t.is((await tlsGet(port, 'unknown.example.org', 'a.example.com', '/')).cn, 'a.example.com');
    t.deepEqual([a.requests.length >= 1, b.requests.length >= 1], [true, true]);
  } finally {
    await gw.close();
    await a.close();
    await b.close();
  }
});

test.serial('a Service with a waypoint: HBONE CONNECT <VIP>:<port> to the waypoint, with the gateway SPIFFE identity', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const GATEWAY_ID = 'spiffe://cluster.local/ns/istio-system/sa/bookinfo-gateway-istio';
  const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
  const [gwCert, wpCert] = await Promise.all([certs.get(GATEWAY_ID), certs.get(WAYPOINT_ID)]);
  const seen: Array<{ peer: string; authority: string }> = [];
  const app = (await import('node:http')).createServer((req, res) => res.end(`waypoint saw ${req.url}`));
  const wp = new HboneServer({
    certificate: wpCert,
    onTunnel: (tun) => {
      seen.push({ peer: tun.peerIdentity, authority: tun.authority });
      app.emit('connection', new StreamDuplex(tun.accept()));
    },
  });
  const wpPort = (await wp.listen(0, '127.0.0.1')).port;
  const pp = { ...service('productpage', '10.96.0.30', { 9080: 9080 }), waypoint: { destination: '/127.0.0.1', hboneMtlsPort: wpPort } };
  const m = {
    services: [pp],
    workloads: [
      workload('productpage-v1', '10.244.1.5', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: 9080 } }, { protocol: 'HBONE' }),
      workload('waypoint', '127.0.0.1', 'waypoint', {}, { protocol: 'HBONE' }),
    ],
  };
  const port = await freePort();
  const route = httpRoute('bookinfo', 'productpage', 9080);
  const gw = await gateway({ mesh: m, resources: [route], ingress: { listeners: [listener('http', port, [key(route)])] } }, { connector: new HboneConnector({ certificate: () => gwCert }) });
  try {
    const res = await get(port, 'bookinfo.example.com', '/productpage');
    t.is(res.status, 200);
    t.is(res.body, 'waypoint saw /productpage');
    t.deepEqual(seen, [{ peer: GATEWAY_ID, authority: '10.96.0.30:9080' }]);
  } finally {
    await gw.close();
    await wp.close();
    certs.close();
  }
});

test.serial('a VirtualService bound to the gateway: hosts against Host, a 100/0 split reaches the right subset', async (t) => {
  const v1 = await echo('reviews-v1');
  const v2 = await echo('reviews-v2');
  const port = await freePort();
  const m = {
    services: [{ ...service('reviews', '10.96.0.50', { 9080: 0 }), endpoints: {} as NonNullable<ServiceView['endpoints']> }],
    workloads: [
      workload('reviews-v1', '127.0.0.1', 'reviews', {}, { labels: { app: 'reviews', version: 'v1' } }),
      { ...workload('reviews-v2', '127.0.0.2', 'reviews', {}, { labels: { app: 'reviews', version: 'v2' } }), uid: 'Kubernetes//Pod/default/reviews-v2' },
    ],
  };
  // Both answer on loopback: v2's endpoint is 127.0.0.1 too, on its own port.
  m.workloads[1]!.workloadIps = ['127.0.0.1'];
  m.services[0]!.endpoints = {
    v1: { workloadUid: m.workloads[0]!.uid, port: { 9080: v1.port } },
    v2: { workloadUid: m.workloads[1]!.uid, port: { 9080: v2.port } },
  };
  const vs: K8sObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'bookinfo', namespace: 'default' },
    spec: {
      hosts: ['*.example.com'],
      gateways: ['istio-system/bookinfo-gateway'],
      http: [
        { match: [{ uri: { prefix: '/reviews' } }], route: [{ destination: { host: 'reviews', subset: 'v1', port: { number: 9080 } }, weight: 0 }, { destination: { host: 'reviews', subset: 'v2', port: { number: 9080 } }, weight: 100 }] },
      ],
    },
  };
  const dr: K8sObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
  };
  const l = { ...listener('istio-system/bookinfo-gateway/0', port, [key(vs)]), parent: { group: 'networking.istio.io' as const, namespace: 'istio-system', name: 'bookinfo-gateway' } };
  const gw = await gateway({ mesh: m, resources: [vs, dr], ingress: { listeners: [l] } });
  try {
    for (let i = 0; i < 6; i++) {
      const r = await get(port, 'bookinfo.example.com', '/reviews/1');
      t.is(r.status, 200);
      t.is(r.headers['x-upstream'], 'reviews-v2');
    }
    t.is(v1.requests.length, 0);
    t.is((await get(port, 'bookinfo.example.com', '/ratings')).status, 404);
    t.is((await get(port, 'bookinfo.example.org', '/reviews/1')).status, 404);
  } finally {
    await gw.close();
    await v1.close();
    await v2.close();
  }
});

test.serial('a config change that adds a listener does not break a request in flight on another', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const app = await echo('productpage', (req, res) => {
    if (req.url !== '/slow') return false;
    void released.then(() => res.end('slow done'));
    return true;
  });
  const [p1, p2] = [await freePort(), await freePort()];
  const route = httpRoute('bookinfo', 'productpage', 9080);
  const base = { mesh: mesh(app.port), resources: [route] };
  const gw = await gateway({ ...base, ingress: { listeners: [listener('http', p1, [key(route)])] } });
  try {
    const slow = get(p1, 'bookinfo.example.com', '/slow');
    while (app.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    gw.source.set({ ...base, ingress: { listeners: [listener('http', p1, [key(route)]), listener('http-alt', p2, [key(route)], { port: 8080 })] } });
    await gw.waypoint.ingressSettled();
    t.is((await get(p2, 'bookinfo.example.com', '/fast')).status, 200);
    release();
    const r = await slow;
    t.is(r.status, 200);
    t.is(r.body, 'slow done');
    // Removing the second port closes it; the first keeps serving.
    gw.source.set({ ...base, ingress: { listeners: [listener('http', p1, [key(route)])] } });
    await gw.waypoint.ingressSettled();
    await t.throwsAsync(() => get(p2, 'bookinfo.example.com', '/'), { code: 'ECONNREFUSED' });
    t.is((await get(p1, 'bookinfo.example.com', '/again')).status, 200);
  } finally {
    await gw.close();
    await app.close();
  }
});

test.serial('a listener whose port is taken, or whose certificate is unusable, is logged by name and skipped; the rest serve', async (t) => {
  const app = await echo('productpage');
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const busy = (taken.address() as AddressInfo).port;
  const [free, tlsPort] = [await freePort(), await freePort()];
  const route = httpRoute('bookinfo', 'productpage', 9080);
  const listeners = [
    listener('blocked', busy, [key(route)]),
    listener('bad-cert', tlsPort, [key(route)], { protocol: 'HTTPS', port: 443, tls: { mode: 'Terminate', certificates: [{ certChain: 'not a certificate', privateKey: 'not a key' }] } }),
    listener('http', free, [key(route)]),
  ];
  const gw = await gateway({ mesh: mesh(app.port), resources: [route], ingress: { listeners } });
  try {
    t.is((await get(free, 'bookinfo.example.com', '/')).status, 200);
    t.is((await get(gw.readiness, 'x', '/healthz/ready')).status, 200);
    t.true(gw.logs.some((l) => l.msg === 'ingress listener skipped' && l.fields?.listener === 'blocked' && /EADDRINUSE/.test(String(l.fields.reason))));
    t.true(gw.logs.some((l) => l.msg === 'ingress listener skipped' && l.fields?.listener === 'bad-cert'));
    t.false(JSON.stringify(gw.logs).includes('not a key'));
    t.deepEqual([...gw.waypoint.ingressPorts.keys()], [free]);
  } finally {
    await gw.close();
    await app.close();
    await new Promise<void>((r) => taken.close(() => r()));
  }
});

function h2Get(url: string, host: string, path: string, opts: { rejectUnauthorized?: boolean; servername?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(url, { rejectUnauthorized: false, ...opts });
    session.on('error', reject);
    const req = session.request({ ':path': path, ':authority': host });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      session.close();
      resolve({ status, body });
    });
    req.on('error', reject);
    req.end();
  });
}

test.serial('HTTP/2: ALPN h2 on an HTTPS listener and h2c prior knowledge on an HTTP one reach the same routes', async (t) => {
  const app = await echo('productpage');
  const [plain, secure] = [await freePort(), await freePort()];
  const route = httpRoute('bookinfo', 'productpage', 9080);
  const listeners = [
    listener('http', plain, [key(route)]),
    listener('https', secure, [key(route)], { protocol: 'HTTPS', port: 443, hostnames: ['bookinfo.example.com'], tls: { mode: 'Terminate', certificates: [selfSigned('bookinfo.example.com')] } }),
  ];
  const gw = await gateway({ mesh: mesh(app.port), resources: [route], ingress: { listeners } });
  try {
    const a = await h2Get(`https://127.0.0.1:${secure}`, 'bookinfo.example.com', '/h2', { servername: 'bookinfo.example.com' });
    t.is(a.status, 200);
    t.regex(a.body, /"url":"\/h2"/);
    t.regex(a.body, /"x-forwarded-proto":"https"/);
    const b = await h2Get(`http://127.0.0.1:${plain}`, 'bookinfo.example.com', '/h2c');
    t.is(b.status, 200);
    t.regex(b.body, /"url":"\/h2c"/);
    // The HTTPS listener serves bookinfo.example.com only.
    t.is((await h2Get(`https://127.0.0.1:${secure}`, 'other.example.com', '/', { servername: 'bookinfo.example.com' })).status, 404);
  } finally {
    await gw.close();
    await app.close();
  }
});

test.serial('HTTPS listeners sharing a port: a request whose Host belongs to another listener than the SNI chose gets 421, also on a coalesced HTTP/2 connection', async (t) => {
  const app = await echo('productpage');
  const port = await freePort();
  const r1 = httpRoute('r1', 'productpage', 9080, { hostnames: ['example.org'] });
  const r2 = httpRoute('r2', 'productpage', 9080);
  const r3 = httpRoute('r3', 'productpage', 9080);
  const tls = { mode: 'Terminate' as const, certificates: [selfSigned('example.org')] };
  const listeners = [
    listener('https', port, [key(r1)], { protocol: 'HTTPS', port: 443, tls }),
    listener('https-with-hostname', port, [key(r2)], { protocol: 'HTTPS', port: 443, hostnames: ['second-example.org'], tls }),
    listener('https-with-wildcard-hostname', port, [key(r3)], { protocol: 'HTTPS', port: 443, hostnames: ['*.wildcard.org'], tls }),
  ];
  const gw = await gateway({ mesh: mesh(app.port), resources: [r1, r2, r3], ingress: { listeners } });
  const url = `https://127.0.0.1:${port}`;
  const status = async (servername: string, host: string) => (await h2Get(url, host, '/detect', { servername })).status;
  try {
    t.is(await status('example.org', 'example.org'), 200);
    t.is(await status('example.org', 'second-example.org'), 421);
    t.is(await status('example.org', 'unknown-example.org'), 404);
    t.is(await status('second-example.org', 'second-example.org'), 200);
    t.is(await status('second-example.org', 'example.org'), 421);
    t.is(await status('second-example.org', 'unknown-example.org'), 421);
    t.is(await status('a.wildcard.org', 'b.wildcard.org'), 200);
    t.is(await status('a.wildcard.org', 'second-example.org'), 421);
    t.is(await status('unknown-example.org', 'example.org'), 200);
    // HTTP/1.1 over TLS is held to the same rule.
    t.regex((await tlsGet(port, 'second-example.org', 'example.org', '/')).response, /^HTTP\/1.1 421/);
    // One HTTP/2 connection made for second-example.org, reused for example.org (connection coalescing).
    const session = http2Connect(url, { rejectUnauthorized: false, servername: 'second-example.org' });
    const one = (authority: string) =>
      new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/', ':authority': authority });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
    t.deepEqual([await one('second-example.org'), await one('example.org'), await one('second-example.org')], [200, 421, 200]);
    session.close();
  } finally {
    await gw.close();
    await app.close();
  }
});

test.serial('TLS passthrough: the SNI picks the TLSRoute (or VirtualService tls sniHosts) and the stream reaches the backend undecrypted', async (t) => {
  const backendCert = selfSigned('secure.example.com');
  const backend = createTlsServer({ cert: backendCert.certChain, key: backendCert.privateKey }, (s) => {
    s.on('data', () => s.end('hello from the backend over its own TLS'));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const backendPort = (backend.address() as AddressInfo).port;
  const port = await freePort();
  const m = {
    services: [service('secure', '10.96.0.60', { 443: backendPort })],
    workloads: [workload('secure-1', '127.0.0.1', 'secure', { 'default/secure.default.svc.cluster.local': { 443: backendPort } })],
  };
  const tlsRoute: K8sObject = {
    apiVersion: `${GW}/v1alpha2`,
    kind: 'TLSRoute',
    metadata: { name: 'secure', namespace: 'default' },
    spec: { hostnames: ['secure.example.com'], rules: [{ backendRefs: [{ name: 'secure', port: 443 }] }] },
  };
  const vs: K8sObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'vs-secure', namespace: 'default' },
    spec: { hosts: ['*.istio.example.com'], gateways: ['istio-system/gw'], tls: [{ match: [{ sniHosts: ['*.istio.example.com'] }], route: [{ destination: { host: 'secure', port: { number: 443 } } }] }] },
  };
  const l = listener('tls', port, [key(tlsRoute), key(vs)], { protocol: 'TLS', port: 443, tls: { mode: 'Passthrough', certificates: [] } });
  const gw = await gateway({ mesh: m, resources: [tlsRoute, vs], ingress: { listeners: [l] } });
  const call = (servername: string) =>
    new Promise<{ cn: string; data: string }>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
        const cn = String(s.getPeerCertificate().subject.CN);
        let data = '';
        s.on('data', (c) => (data += c));
        s.on('end', () => resolve({ cn, data }));
        s.write('hi');
      });
      s.on('error', reject);
    });
  try {
    const r = await call('secure.example.com');
    t.is(r.cn, 'secure.example.com');
    t.is(r.data, 'hello from the backend over its own TLS');
    t.is((await call('a.istio.example.com')).data, 'hello from the backend over its own TLS');
    // No route for the SNI: the connection is closed before any handshake answer.
    await t.throwsAsync(() => call('nothing.example.org'));
  } finally {
    await gw.close();
    await new Promise<void>((r) => backend.close(() => r()));
  }
});

test.serial('TLS passthrough: the most specific TLSRoute hostname takes the SNI (exact over *.com, listener hostname first), other names are refused', async (t) => {
  // Two TLS backends, each answering with its own certificate's name, as the suite's tls-backend and tls-backend-2.
  const backends = await Promise.all(
    (['127.0.0.1', '127.0.0.2'] as const).map(async (host, i) => {
      const cert = selfSigned(`backend-${i + 1}.example.com`);
      const server = createTlsServer({ cert: cert.certChain, key: cert.privateKey }, (s) => s.on('data', () => s.end(`backend-${i + 1}`)));
      await new Promise<void>((r) => server.listen(0, host, () => r()));
      return { server, host, port: (server.address() as AddressInfo).port };
    }),
  );
  const port = await freePort();
  const m = {
    services: backends.map((b, i) => service(`tls-backend-${i + 1}`, `10.96.0.7${i}`, { 443: b.port })),
    workloads: backends.map((b, i) => workload(`tls-backend-${i + 1}-a`, b.host, `tls-backend-${i + 1}`, { [`default/tls-backend-${i + 1}.default.svc.cluster.local`]: { 443: b.port } })),
  };
  const route = (name: string, hostnames: string[], backend: string): K8sObject => ({
    apiVersion: `${GW}/v1`,
    kind: 'TLSRoute',
    metadata: { name, namespace: 'default' },
    spec: { hostnames, rules: [{ backendRefs: [{ name: backend, port: 443 }] }] },
  });
  // Listed first, and first by name: a first-match table would send abc.example.com here.
  const wide = route('a-less-specific', ['*.com'], 'tls-backend-2');
  const exact = route('b-exact', ['abc.example.com'], 'tls-backend-1');
  const l = listener('tls', port, [key(wide), key(exact)], { protocol: 'TLS', port: 443, hostnames: ['*.example.com'], tls: { mode: 'Passthrough', certificates: [] } });
  const gw = await gateway({ mesh: m, resources: [wide, exact], ingress: { listeners: [l] } });
  const call = (servername: string) =>
    new Promise<{ cn: string; data: string }>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
        const cn = String(s.getPeerCertificate().subject.CN);
        let data = '';
        s.on('data', (c) => (data += c));
        s.on('end', () => resolve({ cn, data }));
        s.write('hi');
      });
      s.on('error', reject);
    });
  try {
    t.deepEqual(await call('abc.example.com'), { cn: 'backend-1.example.com', data: 'backend-1' });
    t.deepEqual(await call('other.example.com'), { cn: 'backend-2.example.com', data: 'backend-2' });
    // *.com takes it, but the listener (*.example.com) does not: closed before any handshake answer.
    await t.throwsAsync(() => call('non.matching.com'));
  } finally {
    await gw.close();
    await Promise.all(backends.map((b) => new Promise<void>((r) => b.server.close(() => r()))));
  }
});

test.serial('readiness: not ready before the listeners are open, ready once they are', async (t) => {
  const app = await echo('productpage');
  const port = await freePort();
  const route = httpRoute('bookinfo', 'productpage', 9080);
  const source = new StaticConfigSource();
  const waypoint = new Waypoint({
    identity: { name: 'bookinfo-gateway', namespace: 'istio-system' },
    source,
    accessLog: { write: () => {} },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
    ingress: { host: '127.0.0.1' },
  });
  await waypoint.start();
  const { readiness } = await waypoint.listen({ readiness: { port: 0, host: '127.0.0.1' } });
  try {
    t.is((await get(readiness!, 'x', '/healthz/ready')).status, 503);
    await t.throwsAsync(() => get(port, 'bookinfo.example.com'), { code: 'ECONNREFUSED' });
    source.set({ mesh: mesh(app.port), resources: [route], ingress: { listeners: [listener('http', port, [key(route)])] } });
    t.false(waypoint.ready);
    await waypoint.ingressSettled();
    t.true(waypoint.ready);
    t.is((await get(readiness!, 'x', '/healthz/ready')).status, 200);
    t.is((await get(port, 'bookinfo.example.com')).status, 200);
  } finally {
    await waypoint.close(100);
    await app.close();
  }
});

function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { host: 'cors.example.com', ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test.serial('HTTPRoute CORS filter (the conformance routes): preflights answered at the gateway with access-control-* headers, allowed origins get them on the backend response', async (t) => {
  const app = await echo('productpage');
  const port = await freePort();
  const rule = (prefix: string, cors: Record<string, unknown>) => ({ filters: [{ type: 'CORS', cors }], matches: [{ path: { type: 'PathPrefix', value: prefix } }], backendRefs: [{ name: 'productpage', port: 9080 }] });
  const routes = [
    httpRoute('multiple', 'productpage', 9080, {
      rules: [rule('/cors-1', { allowOrigins: ['https://www.foo.com', 'https://*.bar.com'], allowMethods: ['GET', 'OPTIONS'], allowHeaders: ['x-header-1', 'x-header-2'], exposeHeaders: ['x-header-3', 'x-header-4'], allowCredentials: true, maxAge: 3600 })],
    }),
    httpRoute('wildcard-methods', 'productpage', 9080, { rules: [rule('/cors-2', { allowOrigins: ['https://www.foo.com'], allowMethods: ['*'] })] }),
    httpRoute('wildcard-origin', 'productpage', 9080, { rules: [rule('/cors-wildcard-origin', { allowOrigins: ['*'], allowMethods: ['PUT'], allowCredentials: false })] }),
    httpRoute('wildcard-all', 'productpage', 9080, {
      rules: [
        rule('/cors-wildcard-methods-headers', { allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], allowCredentials: true }),
        rule('/cors-wildcard-methods-headers-unauth', { allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], allowCredentials: false }),
      ],
    }),
  ];
  const gw = await gateway({ mesh: mesh(app.port), resources: routes, ingress: { listeners: [listener('http', port, routes.map(key))] } });
  const cors = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('access-control-')));
  const preflight = (path: string, origin: string, method: string, requestHeaders?: string) =>
    send(port, 'OPTIONS', path, { origin, 'access-control-request-method': method, ...(requestHeaders ? { 'access-control-request-headers': requestHeaders } : {}) });
  try {
    const full = { 'access-control-allow-methods': 'GET, OPTIONS', 'access-control-allow-headers': 'x-header-1, x-header-2', 'access-control-expose-headers': 'x-header-3, x-header-4', 'access-control-max-age': '3600', 'access-control-allow-credentials': 'true' };
    for (const origin of ['https://www.foo.com', 'https://www.bar.com', 'https://xpto.www.bar.com']) {
      const r = await preflight('/cors-1', origin, 'GET', 'x-header-1, x-header-2');
      t.is(r.status, 200, origin);
      t.is(r.body, '', 'answered by the gateway, not the backend');
      t.not(r.headers['content-type'], 'application/json');
      t.deepEqual(cors(r.headers), { 'access-control-allow-origin': origin, ...full }, origin);
    }
    // Not an allowed origin (nor is the bare domain of *.bar.com, nor another scheme or port): answered, no CORS headers.
    for (const origin of ['https://foobar.com', 'https://bar.com', 'http://www.foo.com', 'https://www.foo.com:8443']) {
      const r = await preflight('/cors-1', origin, 'GET');
      t.is(r.status, 200, origin);
      t.is(r.body, '');
      t.deepEqual(cors(r.headers), {}, origin);
    }
    t.is((await preflight('/cors-1', 'https://www.foo.com:443', 'GET')).headers['access-control-allow-origin'], 'https://www.foo.com:443', 'the default port is the same origin');
    t.is(app.requests.length, 0, 'no preflight reached the backend');

    // Simple requests go to the backend; an allowed origin gets allow-origin, credentials and expose-headers.
    const simple = await send(port, 'GET', '/cors-1', { origin: 'https://www.bar.com' });
    t.is(simple.status, 200);
    t.is((JSON.parse(simple.body) as { url: string }).url, '/cors-1');
    t.deepEqual(cors(simple.headers), { 'access-control-allow-origin': 'https://www.bar.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-header-3, x-header-4' });
    const denied = await send(port, 'GET', '/cors-1', { origin: 'https://foobar.com', 'access-control-request-method': 'GET' });
    t.is(denied.status, 200);
    t.deepEqual(cors(denied.headers), {});
    t.deepEqual(cors((await send(port, 'GET', '/cors-1', {})).headers), {}, 'no Origin: not a CORS request');
    t.is(app.requests.length, 3);

    // allowMethods *: the requested method; no credentials header unless allowCredentials.
    t.deepEqual(cors((await preflight('/cors-2', 'https://www.foo.com', 'POST')).headers), { 'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-methods': 'POST', 'access-control-max-age': '5' });
    for (const origin of ['https://foobar.com', 'https://foobar.com:12345']) {
      t.deepEqual(cors((await preflight('/cors-wildcard-origin', origin, 'PUT')).headers), { 'access-control-allow-origin': origin, 'access-control-allow-methods': 'PUT', 'access-control-max-age': '5' });
      const put = await send(port, 'PUT', '/cors-wildcard-origin', { origin });
      t.is(put.status, 200);
      t.deepEqual(cors(put.headers), { 'access-control-allow-origin': origin });
    }
    // Wildcards with credentials: the origin, method and headers asked for, never `*`.
    const auth = await preflight('/cors-wildcard-methods-headers', 'https://other.foo.com', 'PUT', 'x-header-1, x-header-2');
    t.deepEqual(cors(auth.headers), { 'access-control-allow-origin': 'https://other.foo.com', 'access-control-allow-methods': 'PUT', 'access-control-allow-headers': 'x-header-1, x-header-2', 'access-control-allow-credentials': 'true', 'access-control-max-age': '5' });
    const unauth = await preflight('/cors-wildcard-methods-headers-unauth', 'https://other.foo.com', 'PUT', 'x-header-1, x-header-2');
    t.deepEqual(cors(unauth.headers), { 'access-control-allow-origin': 'https://other.foo.com', 'access-control-allow-methods': 'PUT', 'access-control-allow-headers': 'x-header-1, x-header-2', 'access-control-max-age': '5' });
    t.deepEqual(cors((await send(port, 'GET', '/cors-wildcard-methods-headers', { origin: 'https://other.foo.com' })).headers), { 'access-control-allow-origin': 'https://other.foo.com', 'access-control-allow-credentials': 'true' });
    t.deepEqual(cors((await send(port, 'GET', '/cors-wildcard-methods-headers-unauth', { origin: 'https://other.foo.com' })).headers), { 'access-control-allow-origin': 'https://other.foo.com' });
    // An OPTIONS without Access-Control-Request-Method is no preflight: the backend answers it.
    const options = await send(port, 'OPTIONS', '/cors-1', { origin: 'https://www.foo.com' });
    t.is((JSON.parse(options.body) as { method: string }).method, 'OPTIONS');
    t.is(options.headers['access-control-allow-origin'], 'https://www.foo.com');
  } finally {
    await gw.close();
    await app.close();
  }
});
