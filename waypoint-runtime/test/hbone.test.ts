import test from 'ava';
import { createServer } from 'node:http';
import type { K8sObject } from '@ambit/plugin-sdk';
import { CertificateManager, createRootCA, HboneClient, HboneServer, LocalCA } from '@ambit/mesh-api';
import { drainWaypoint, HboneConnector, HboneTermination, StaticConfigSource, StreamDuplex, Waypoint } from '../src/index.js';
import { service, workload } from './helpers.js';

const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const NOTSLEEP = 'spiffe://cluster.local/ns/default/sa/notsleep';
const PP = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';

test('HBONE both legs: client -> waypoint:15008 (mTLS CONNECT) -> plugin chain -> HBONE to podIP:15008 with authority podIP:targetPort', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert, notsleepCert, ppCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP), certs.get(NOTSLEEP), certs.get(PP)]);

  // The destination "ztunnel": terminates HBONE and serves an app over each tunnel.
  const seen: Array<{ peer: string; authority: string }> = [];
  const app = createServer((req, res) => res.end(JSON.stringify({ app: 'productpage', url: req.url, host: req.headers.host })));
  const dest = new HboneServer({
    certificate: ppCert,
    onTunnel: (tun) => {
      seen.push({ peer: tun.peerIdentity, authority: tun.authority });
      app.emit('connection', new StreamDuplex(tun.accept()));
    },
  });
  const destPort = (await dest.listen(0, '127.0.0.1')).port;

  const policy: K8sObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'viewer', namespace: 'default' },
    spec: {
      targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' },
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }], to: [{ operation: { methods: ['GET'] } }] }],
    },
  };
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: 9080 })],
    workloads: [
      workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: 9080 } }, { protocol: 'HBONE' }),
    ],
  };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [policy] }),
    connector: new HboneConnector({ certificate: () => wpCert, hbonePort: destPort }),
    accessLog: { write: () => {} },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;

  const client = new HboneClient();
  const call = async (cert: typeof sleepCert, method: string) => {
    const stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority: '10.96.0.30:9080', expectedIdentities: [WAYPOINT_ID], certificate: cert, headers: { forwarded: 'for="10.244.0.9:51000"' } });
    let out = '';
    stream.on('data', (c) => (out += c));
    stream.write(`${method} /productpage HTTP/1.1\r\nhost: productpage:9080\r\nconnection: close\r\n\r\n`);
    await new Promise((r) => stream.on('end', r));
    stream.end();
    return out;
  };
  try {
    const ok = await call(sleepCert, 'GET');
    t.regex(ok, /^HTTP\/1.1 200 OK/);
    t.regex(ok, /"app":"productpage"/);
    t.deepEqual(seen[0], { peer: WAYPOINT_ID, authority: '127.0.0.1:9080' });
    const del = await call(sleepCert, 'DELETE');
    t.regex(del, /^HTTP\/1.1 403/);
    t.regex(del, /RBAC: access denied$/);
    const other = await call(notsleepCert, 'GET');
    t.regex(other, /^HTTP\/1.1 403/);
    t.regex((await waypoint.metrics.render()), /istio_requests_total\{[^}]*source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"[^}]*response_code="200"[^}]*connection_security_policy="mutual_tls"\} 1/);
  } finally {
    client.close();
    await term.close();
    await waypoint.close(100);
    await dest.close();
    certs.close();
  }
});

test('drain on SIGTERM ends an idle keep-alive tunnel (as a ztunnel pool holds it) instead of waiting for the client', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP)]);
  const app = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as { port: number }).port;
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: appPort })],
    workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: appPort } })],
  };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [] }),
    accessLog: { write: () => {} },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  try {
    const stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority: '10.96.0.30:9080', expectedIdentities: [WAYPOINT_ID], certificate: sleepCert });
    let out = '';
    stream.on('data', (c) => (out += c));
    const ended = new Promise<void>((r) => { stream.once('close', r); stream.once('end', r); });
    // A keep-alive request: the tunnel stays open after the response, as a pooled client connection does.
    stream.write('GET / HTTP/1.1\r\nhost: productpage:9080\r\n\r\n');
    while (!/\r\n\r\nok$/.test(out)) await new Promise((r) => setTimeout(r, 10));
    t.regex(out, /^HTTP\/1.1 200 OK/);
    // A grace longer than the test may run: the idle tunnel must end at once, not when the grace runs out.
    await drainWaypoint(waypoint, term, 600_000);
    await ended;
  } finally {
    client.close();
    await new Promise((r) => app.close(r));
    certs.close();
  }
});

test('a captured pod bound to the waypoint and addressed by its IP is reached over HBONE, its identity verified', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert, ppCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP), certs.get(PP)]);
  const seen: Array<{ peer: string; authority: string }> = [];
  const app = createServer((req, res) => res.end(`pod ${req.url}`));
  const dest = new HboneServer({
    certificate: ppCert,
    onTunnel: (tun) => {
      seen.push({ peer: tun.peerIdentity, authority: tun.authority });
      app.emit('connection', new StreamDuplex(tun.accept()));
    },
  });
  const destPort = (await dest.listen(0, '127.0.0.1')).port;
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: 9080 })],
    workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: 9080 } }, { protocol: 'HBONE' })],
  };
  const binding = { services: [], workloads: ['Kubernetes//Pod/default/productpage-v1'] };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [], binding }),
    connector: new HboneConnector({ certificate: () => wpCert, hbonePort: destPort }),
    accessLog: { write: () => {} },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  try {
    const stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority: '127.0.0.1:9080', expectedIdentities: [WAYPOINT_ID], certificate: sleepCert });
    let out = '';
    stream.on('data', (c) => (out += c));
    stream.write('GET /direct HTTP/1.1\r\nhost: 127.0.0.1:9080\r\nconnection: close\r\n\r\n');
    await new Promise((r) => stream.on('end', r));
    stream.end();
    t.regex(out, /^HTTP\/1.1 200 OK[^]*pod \/direct$/);
    t.deepEqual(seen, [{ peer: WAYPOINT_ID, authority: '127.0.0.1:9080' }]);
  } finally {
    client.close();
    await term.close();
    await waypoint.close(100);
    await dest.close();
    certs.close();
  }
});

test('drain on SIGTERM keeps serving new tunnels at first (ztunnels have not yet heard the pod is going) while readiness says 503', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP)]);
  const app = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as { port: number }).port;
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: appPort })],
    workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: appPort } })],
  };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [] }),
    accessLog: { write: () => {} },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  try {
    t.true(waypoint.ready);
    const draining = drainWaypoint(waypoint, term, 4000);
    t.false(waypoint.ready, 'readiness fails as soon as the drain starts');
    // A tunnel opened after SIGTERM, as a ztunnel does until the controller's push reaches it.
    const stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority: '10.96.0.30:9080', expectedIdentities: [WAYPOINT_ID], certificate: sleepCert });
    let out = '';
    stream.on('data', (c) => (out += c));
    stream.write('GET / HTTP/1.1\r\nhost: productpage:9080\r\n\r\n');
    await new Promise((r) => stream.on('end', r));
    t.regex(out, /^HTTP\/1.1 200 OK/);
    t.regex(out, /\r\nconnection: close\r\n/i, 'the client is told to reconnect (elsewhere) next time');
    stream.end();
    await draining;
  } finally {
    client.close();
    await new Promise((r) => app.close(r));
    certs.close();
  }
});
