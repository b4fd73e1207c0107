// TLS termination on an ingress port: the server side of the handshake on an accepted socket, the certificate
// chosen by SNI among the port's listeners (./select), ALPN h2 or http/1.1. A handshake that fails or does not
// finish in time closes the socket; nothing of it reaches the HTTP servers.

import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { SniCertificates } from './select.js';

export interface Terminated {
  socket: TLSSocket;
  sni?: string;
}

export function terminateTls(raw: Socket, certs: SniCertificates, handshakeMs: number): Promise<Terminated | undefined> {
  return new Promise((resolve) => {
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext: certs.default,
      ALPNProtocols: ['h2', 'http/1.1'],
      SNICallback: (name, cb) => cb(null, certs.pick(name)),
    });
    const timer = setTimeout(() => fail(), handshakeMs);
    timer.unref?.();
    const fail = () => {
      clearTimeout(timer);
      socket.destroy();
      raw.destroy();
      resolve(undefined);
    };
    socket.once('error', fail);
    socket.once('secure', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => undefined);
      const sni = (socket as TLSSocket & { servername?: string | false }).servername;
      resolve({ socket, sni: typeof sni === 'string' ? sni : undefined });
    });
  });
}
