// TLS termination on an ingress port: a tls.Server that never listens does the server side of the handshake on
// each accepted socket, the certificate chosen by SNI among the port's listeners (./select), ALPN h2 or
// http/1.1. A handshake that fails or does not finish in time closes the socket; nothing of it reaches the HTTP
// servers. One terminator per port plan (a config change builds new plans, hence new certificates).

import type { Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import type { SniCertificates } from './select.js';

export interface Terminated {
  socket: TLSSocket;
  sni?: string;
}

export type Terminator = (raw: Socket) => void;

export function tlsTerminator(certs: SniCertificates, handshakeMs: number, onSecure: (t: Terminated) => void): Terminator {
  const server = createServer({
    ...certs.defaultOptions,
    ALPNProtocols: ['h2', 'http/1.1'],
    SNICallback: (name, cb) => cb(null, certs.pick(name)),
    handshakeTimeout: handshakeMs,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => undefined);
    const sni = (socket as TLSSocket & { servername?: string | false }).servername;
    onSecure({ socket, sni: typeof sni === 'string' ? sni : undefined });
  });
  // A failed or timed-out handshake: the socket is already being destroyed.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  return (raw) => server.emit('connection', raw);
}
