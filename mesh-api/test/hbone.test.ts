import * as net from 'node:net';
import * as tls from 'node:tls';
import test from 'ava';
import { CertificateManager, HboneClient, HboneError, HboneServer, LocalCA, createRootCA, secureContextOf, type HboneTunnel, type WorkloadCertificate } from '../src/index.js';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';

async function setup() {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const clientCert = await certs.get(CLIENT);
  const serverCert = await certs.get(SERVER);
  const seen: HboneTunnel[] = [];
  const server = new HboneServer({
    certificate: serverCert,
    onTunnel: (t) => {
      seen.push(t);
      if (t.authority === '127.0.0.1:401') return t.reject(401);
      const s = t.accept();
      s.pipe(s);
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = new HboneClient();
  return { certs, clientCert, serverCert, server, port, client, seen };
}

function roundTrip(s: NodeJS.ReadWriteStream, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.write(payload);
    s.end();
  });
}

const req = (port: number, cert: WorkloadCertificate, extra: object = {}) => ({
  nextHop: { host: '127.0.0.1', port },
  authority: '127.0.0.5:8080',
  expectedIdentities: [SERVER],
  certificate: cert,
  headers: { baggage: 'k8s.cluster.name=Kubernetes,k8s.namespace.name=default', forwarded: 'for="127.0.0.9:1234"', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  ...extra,
});

test('bytes go through; the server sees the peer identity, authority and Istio headers', async (t) => {
  const { client, clientCert, port, seen, server, certs } = await setup();
  const s = await client.connect(req(port, clientCert));
  const big = 'x'.repeat(3 * 1024 * 1024);
  t.is((await roundTrip(s, big)).length, big.length);
  t.is(seen[0]!.peerIdentity, CLIENT);
  t.is(seen[0]!.authority, '127.0.0.5:8080');
  t.is(seen[0]!.headers.baggage, 'k8s.cluster.name=Kubernetes,k8s.namespace.name=default');
  t.is(seen[0]!.headers.forwarded, 'for="127.0.0.9:1234"');
  t.truthy(seen[0]!.headers.traceparent);
  client.destroy();
  server.destroy();
  certs.close();
});

test('wrong server identity, other root, and a 401 are errors; the server keeps working', async (t) => {
  const { client, clientCert, port, server, certs } = await setup();
  const e1 = await t.throwsAsync(client.connect(req(port, clientCert, { expectedIdentities: ['spiffe://cluster.local/ns/default/sa/someone-else'] })), { instanceOf: HboneError });
  t.is(e1.responseFlags, 'IDENTITY_ERROR');
  // a client whose certificate comes from another root is refused by the server
  const other = new CertificateManager(new LocalCA(createRootCA()));
  const foreign = await other.get(CLIENT);
  const e2 = await t.throwsAsync(new HboneClient().connect(req(port, foreign)), { instanceOf: HboneError });
  t.true(['TLS_FAILURE', 'H2_HANDSHAKE_FAILURE', 'CONNECT'].includes(e2.responseFlags));
  const e3 = await t.throwsAsync(client.connect(req(port, clientCert, { authority: '127.0.0.1:401' })), { instanceOf: HboneError });
  t.is(e3.status, 401);
  t.is(await roundTrip(await client.connect(req(port, clientCert)), 'still ok'), 'still ok');
  client.destroy();
  server.destroy();
  certs.close();
  other.close();
});

test('a non-TLS peer and garbage HTTP/2 frames only lose their own connection', async (t) => {
  const { client, clientCert, port, server, certs } = await setup();
  const live = await client.connect(req(port, clientCert));
  // plain text
  const raw = net.connect(port, '127.0.0.1');
  raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => raw.once('close', r));
  // valid TLS, then garbage instead of HTTP/2
  const g = tls.connect({ host: '127.0.0.1', port, secureContext: secureContextOf(clientCert), ALPNProtocols: ['h2'], rejectUnauthorized: false });
  g.on('error', () => undefined);
  g.resume();
  await new Promise((r) => g.once('secureConnect', r));
  g.write(Buffer.alloc(4096, 0xff));
  await new Promise((r) => g.once('close', r));
  // the existing tunnel and new ones still work
  t.is(await roundTrip(live, 'live'), 'live');
  t.is(await roundTrip(await client.connect(req(port, clientCert)), 'new'), 'new');
  client.destroy();
  server.destroy();
  certs.close();
});

test('non-CONNECT requests get 400', async (t) => {
  const { clientCert, port, server, certs } = await setup();
  const http2 = await import('node:http2');
  const session = http2.connect(`https://127.0.0.1:${port}`, { secureContext: secureContextOf(clientCert), rejectUnauthorized: false });
  const r = session.request({ ':method': 'GET', ':path': '/' });
  const status = await new Promise((res) => r.once('response', (h) => res(h[':status'])));
  t.is(status, 400);
  session.destroy();
  server.destroy();
  certs.close();
});

test('pooling: many streams share one TLS connection; past 100 streams a second one opens', async (t) => {
  const { client, clientCert, port, server, certs } = await setup();
  const streams = await Promise.all(Array.from({ length: 50 }, () => client.connect(req(port, clientCert))));
  t.is(client.stats().connections, 1);
  t.is(server.connectionCount, 1);
  const more = await Promise.all(Array.from({ length: 60 }, () => client.connect(req(port, clientCert))));
  t.is(client.stats().connections, 2);
  t.is(client.stats().streams, 110);
  const all = [...streams, ...more];
  const echoes = await Promise.all(all.map((s, i) => roundTrip(s, `s${i}`)));
  t.deepEqual(
    echoes,
    all.map((_, i) => `s${i}`),
  );
  // another source identity gets its own connection
  const other = await certs.get('spiffe://cluster.local/ns/default/sa/another');
  await roundTrip(await client.connect(req(port, other)), 'x');
  t.is(client.stats().keys, 2);
  client.destroy();
  server.destroy();
  certs.close();
});
