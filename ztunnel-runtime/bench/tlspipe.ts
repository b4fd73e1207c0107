// Baseline for single-stream throughput: a plain Node TLS server that pipes each connection to a TCP upstream.
// argv: <certPem file> <keyPem file> <listen host> <listen port> <upstream host> <upstream port>
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

const [certPath, keyPath, host, port, upHost, upPort] = process.argv.slice(2) as [string, string, string, string, string, string];
const srv = tls.createServer({ cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.3' }, (c) => {
  const u = net.connect(Number(upPort), upHost);
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
});
srv.listen(Number(port), host, () => process.send?.({ ready: true }));
