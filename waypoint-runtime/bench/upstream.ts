// Bench upstream: an HTTP/1.1 app answering 1 KiB, served directly on a TCP port and (with --hbone) also behind
// an HBONE listener, as a destination ztunnel would: CONNECT streams handed to the same HTTP server.
// Prints one JSON line {"http": port, "hbone": port}.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { CertificateManager, HboneServer, LocalCA, loadCA } from '@ambit/mesh-api';
import { StreamDuplex } from '../src/index.js';

const body = Buffer.alloc(1024, 'x');
const app = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
});
app.keepAliveTimeout = 60_000;
await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
const out: Record<string, number> = { http: (app.address() as AddressInfo).port };
const caDir = process.argv[2];
if (caDir) {
  const ca = loadCA({ certPem: readFileSync(`${caDir}/ca.pem`, 'utf8'), keyPem: readFileSync(`${caDir}/ca.key`, 'utf8') });
  const certs = new CertificateManager(new LocalCA(ca));
  const cert = await certs.get('spiffe://cluster.local/ns/default/sa/app');
  const server = new HboneServer({ certificate: cert, onTunnel: (t) => app.emit('connection', new StreamDuplex(t.accept())) });
  out.hbone = (await server.listen(0, '127.0.0.1')).port;
}
process.stdout.write(JSON.stringify(out) + '\n');
