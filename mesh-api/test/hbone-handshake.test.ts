// HBONE server against half-open peers: connections that never finish a TLS handshake (silent, or a partial
// ClientHello) are dropped after the handshake timeout, while real HBONE clients keep getting through.
import * as net from 'node:net';
import test from 'ava';
import { CertificateManager, HboneClient, HboneServer, LocalCA, createRootCA } from '../src/index.js';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';

/** Opens a raw TCP connection, writes `first` (if any), never anything more; resolves with what the server did to it. */
function halfOpen(port: number, first?: Buffer): Promise<{ closed: true; bytesRead: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (first) s.write(first);
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve({ closed: true, bytesRead: s.bytesRead }));
    setTimeout(() => reject(new Error('connection still open after 20s')), 20_000).unref();
  });
}

test('half-open peers are dropped after the handshake timeout; a normal client keeps working', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const server = new HboneServer({
    certificate: await certs.get(SERVER),
    handshakeTimeoutMs: 500,
    onTunnel: (tn) => {
      const s = tn.accept();
      s.pipe(s);
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  // A TLS record header announcing a 512-byte ClientHello, then only a few bytes of it.
  const partial = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const silent = Array.from({ length: 100 }, () => halfOpen(port));
  const partials = Array.from({ length: 100 }, () => halfOpen(port, partial));

  const client = new HboneClient();
  const clientCert = await certs.get(CLIENT);
  for (let i = 0; i < 3; i++) {
    const s = await client.connect({ nextHop: { host: '127.0.0.1', port }, authority: '127.0.0.5:8080', expectedIdentities: [SERVER], certificate: clientCert });
    const echoed = await new Promise<string>((resolve, reject) => {
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.end(`hello ${i}`);
    });
    t.is(echoed, `hello ${i}`);
  }

  const results = await Promise.all([...silent, ...partials]);
  t.is(results.length, 200);
  t.true(results.every((r) => r.closed && r.bytesRead === 0), 'every half-open connection closed by the server without an answer');
  client.destroy();
  server.destroy();
  certs.close();
});
