// Baseline for single-stream throughput: the mesh's own two-process topology without the mesh. Run twice: an
// `encrypt` process takes plain TCP (as the source ztunnel does from the app) and opens mutual TLS 1.3 to the next
// hop, and a `decrypt` process terminates that TLS and pipes to the TCP upstream (as the destination ztunnel does).
// What is left between this and the mesh is HBONE itself (HTTP/2 CONNECT framing, windows) and policy.
// argv: encrypt <listen host> <listen port> <tls host> <tls port> <cert file> <key file>
//       decrypt <listen host> <listen port> <upstream host> <upstream port> <cert file> <key file>
// The ports may be comma-separated lists of the same length: one listener per port, each to its own next port
// (so one process per side can stand in for a ztunnel pair carrying several destinations, as in the peers harness).
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

const [mode, host, port, nextHost, nextPort, certPath, keyPath] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const cert = readFileSync(certPath);
const key = readFileSync(keyPath);

function pipe(a: net.Socket, b: net.Socket): void {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.pipe(b).pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

const nextPorts = nextPort.split(',').map(Number);
let listening = 0;
port.split(',').forEach((p, i) => {
  const to = nextPorts[i]!;
  const srv =
    mode === 'decrypt'
      ? tls.createServer({ cert, key, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false }, (c) => pipe(c, net.connect(to, nextHost)))
      : net.createServer((c) => pipe(c, tls.connect({ host: nextHost, port: to, cert, key, minVersion: 'TLSv1.3', rejectUnauthorized: false })));
  srv.listen(Number(p), host, () => {
    if (++listening === nextPorts.length) process.send?.({ ready: true });
  });
});
