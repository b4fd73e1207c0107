// A socket seen through a JavaScript Duplex. node:http2 reads a net.Socket straight from its native handle, so
// bytes already read from the socket (the HTTP/2 preface that protocol detection read and pushed back) would be
// lost; through this wrapper they are delivered in order, as for the tunnels' stream duplexes.

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

export function jsDuplex(socket: Socket): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.once('end', () => d.push(null));
  socket.once('close', () => d.destroy());
  socket.on('error', (err) => d.destroy(err));
  Object.assign(d, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, localAddress: socket.localAddress, localPort: socket.localPort });
  return d;
}
