// Property-based fuzzing of HBONE termination (issue 12), on real sockets on loopback with real TLS from the test
// CA: arbitrary bytes after the TLS handshake, and CONNECTs with arbitrary methods, authorities and headers, are
// answered 4xx or the connection closes; the server keeps serving a well-formed CONNECT after each. Bounded: fixed
// seed and run counts; fast-check prints the seed and the shrunk counterexample.
import http2 from 'node:http2';
import * as tls from 'node:tls';
import test from 'ava';
import fc from 'fast-check';
import { CertificateManager, formatAuthority, HboneClient, HboneServer, LocalCA, createRootCA, parseAuthority, secureContextOptions, type WorkloadCertificate } from '../src/index.js';

const SEED = 0x5eed12;
const opts = (numRuns: number) => ({ seed: SEED, numRuns });
const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';
/** The one authority the fuzzed server admits (as a waypoint admits only its bound addresses); any other gets 400. */
const ECHO = '127.0.0.5:8080';

async function setup() {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const clientCert = await certs.get(CLIENT);
  const serverCert = await certs.get(SERVER);
  const server = new HboneServer({
    certificate: serverCert,
    onTunnel: (t) => {
      if (parseAuthority(t.authority) === undefined || t.authority !== ECHO) return t.reject(400);
      const s = t.accept();
      s.pipe(s);
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = new HboneClient();
  const close = () => {
    client.destroy();
    server.destroy();
    certs.close();
  };
  return { clientCert, server, port, client, close };
}

/** A well-formed CONNECT through the server echoes its payload. */
async function stillServes(client: HboneClient, port: number, cert: WorkloadCertificate): Promise<string> {
  const s = await client.connect({ nextHop: { host: '127.0.0.1', port }, authority: ECHO, expectedIdentities: [SERVER], certificate: cert });
  return new Promise((resolve, reject) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.end('ping');
  });
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Raw bytes: garbage, or the h2 preface then garbage, or frames with a valid 9-byte header and random payload. */
const rawBytes = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([PREFACE, b])),
  fc
    .array(fc.record({ type: fc.integer({ min: 0, max: 12 }), flags: fc.integer({ min: 0, max: 255 }), stream: fc.integer({ min: 0, max: 9 }), payload: fc.uint8Array({ maxLength: 40 }) }), { minLength: 1, maxLength: 5 })
    .map((frames) =>
      Buffer.concat([
        PREFACE,
        ...frames.map((f) => {
          const h = Buffer.alloc(9);
          h.writeUIntBE(f.payload.length, 0, 3);
          h[3] = f.type;
          h[4] = f.flags;
          h.writeUInt32BE(f.stream, 5);
          return Buffer.concat([h, f.payload]);
        }),
      ]),
    ),
);

test('arbitrary bytes after the TLS handshake: the server closes the connection, and serves the next CONNECT', async (t) => {
  const { clientCert, port, client, close } = await setup();
  t.teardown(close);
  await fc.assert(
    fc.asyncProperty(rawBytes, async (bytes) => {
      const sock = tls.connect({ host: '127.0.0.1', port, servername: 'server', ...secureContextOptions(clientCert), ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
      sock.on('error', () => undefined);
      await new Promise<void>((resolve) => sock.once('secureConnect', () => resolve()));
      t.is(sock.alpnProtocol, 'h2');
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      sock.resume();
      sock.end(bytes); // after our bytes, our side is done: a server waiting for more must still let go
      await closed;
      t.is(await stillServes(client, port, clientCert), 'ping');
    }),
    opts(40),
  );
});

/** Header names and values Node's client will send (it refuses invalid ones itself); some pseudo-headers too. */
const headerName = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.constantFrom('forwarded', 'baggage', 'traceparent', 'host', 'te', 'content-length', 'x-forwarded-for'));
const headerValue = fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => s.replace(/[\0\r\n]/g, ''));
const authority = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', ':', '[', '[::1]', '[::1]:', '[::1]:0', '127.0.0.5:8080x', '127.0.0.5:99999', '127.0.0.5:-1', ' 127.0.0.5:8080', 'a:b:c', '%', '127.0.0.5:08080', ECHO + '/'),
  fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 70000 })).map(([ip, p]) => `${ip}:${p}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 65535 })).map(([ip, p]) => formatAuthority(ip, p)),
);
const method = fc.oneof(fc.constant('CONNECT'), fc.constantFrom('GET', 'POST', 'connect', 'CONNECT ', 'PRI'));

test('arbitrary CONNECT methods, authorities and headers: 4xx or a closed stream, never a tunnel; the server keeps serving', async (t) => {
  const { clientCert, port, client, close } = await setup();
  t.teardown(close);
  const session = http2.connect(`https://127.0.0.1:${port}`, { ...secureContextOptions(clientCert), servername: 'server', checkServerIdentity: () => undefined });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  await fc.assert(
    fc.asyncProperty(method, authority, fc.dictionary(headerName, headerValue, { maxKeys: 4 }), async (m, a, extra) => {
      let s = session;
      if (s.destroyed || s.closed) {
        s = http2.connect(`https://127.0.0.1:${port}`, { ...secureContextOptions(clientCert), servername: 'server', checkServerIdentity: () => undefined });
        s.on('error', () => undefined);
      }
      let stream: http2.ClientHttp2Stream;
      try {
        const headers: http2.OutgoingHttpHeaders = { ...extra, ':method': m, ':authority': a };
        if (m !== 'CONNECT') headers[':path'] = '/';
        stream = s.request(headers, { endStream: false });
      } catch {
        return; // Node's client refuses to send it: nothing reaches the server
      }
      stream.on('error', () => undefined);
      const status = await new Promise<number | undefined>((resolve) => {
        stream.once('response', (h) => resolve(Number(h[':status'])));
        stream.once('close', () => resolve(undefined));
      });
      stream.destroy();
      if (m === 'CONNECT' && a === ECHO) t.is(status, 200);
      else if (status !== undefined) t.true(status >= 400 && status < 500, `status ${status} for ${m} ${JSON.stringify(a)}`);
      t.is(await stillServes(client, port, clientCert), 'ping');
    }),
    opts(60),
  );
});

test('parseAuthority on arbitrary strings: undefined, or an address and a port in range that format and parse back the same', (t) => {
  fc.assert(
    fc.property(authority, (a) => {
      const p = parseAuthority(a);
      if (p === undefined) return;
      t.true(Number.isInteger(p.port) && p.port > 0 && p.port < 65536);
      t.deepEqual(parseAuthority(formatAuthority(p.ip, p.port)), p);
    }),
    opts(500),
  );
});
