// TLS passthrough needs the server name before any byte is relayed: read the client's first TLS record (the
// ClientHello), take the SNI from its server_name extension, and keep every byte read so the relay can send the
// handshake on untouched. Bounded: one record (at most 16 KiB + header) and a deadline.

import type { Socket } from 'node:net';

const MAX_RECORD = 16_384 + 5;

/** The SNI of a complete ClientHello record, '' when it has none, undefined when `rec` is not one. */
export function sniOf(rec: Buffer): string | undefined {
  if (rec.length < 5 || rec[0] !== 0x16) return undefined;
  const end = Math.min(rec.length, 5 + rec.readUInt16BE(3));
  let i = 5;
  if (rec[i] !== 0x01) return undefined; // handshake type client_hello
  i += 4 + 2 + 32; // handshake header, client version, random
  if (i >= end) return undefined;
  i += 1 + rec[i]!; // session id
  if (i + 2 > end) return undefined;
  i += 2 + rec.readUInt16BE(i); // cipher suites
  if (i >= end) return undefined;
  i += 1 + rec[i]!; // compression methods
  if (i + 2 > end) return '';
  const extEnd = Math.min(end, i + 2 + rec.readUInt16BE(i));
  i += 2;
  while (i + 4 <= extEnd) {
    const type = rec.readUInt16BE(i);
    const len = rec.readUInt16BE(i + 2);
    i += 4;
    if (type === 0 && i + 2 <= extEnd) {
      // server_name_list: (name_type, length, name)*; host_name is type 0
      let j = i + 2;
      const listEnd = Math.min(extEnd, i + 2 + rec.readUInt16BE(i));
      while (j + 3 <= listEnd) {
        const nameType = rec[j]!;
        const nameLen = rec.readUInt16BE(j + 1);
        if (nameType === 0 && j + 3 + nameLen <= listEnd) return rec.subarray(j + 3, j + 3 + nameLen).toString('latin1').toLowerCase();
        j += 3 + nameLen;
      }
      return '';
    }
    i += len;
  }
  return '';
}

/**
 * Read the first TLS record from `socket` (paused afterwards): the bytes read and the SNI ('' without one), or
 * undefined when the client sends something else, too much, or nothing in time (the socket is then destroyed).
 */
export function readClientHello(socket: Socket, timeoutMs: number): Promise<{ head: Buffer; sni: string } | undefined> {
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    const done = (out: { head: Buffer; sni: string } | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onGone);
      socket.off('error', onGone);
      socket.pause();
      if (!out) socket.destroy();
      resolve(out);
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head[0] !== 0x16 || head.length > MAX_RECORD) return done(undefined);
      if (head.length < 5) return;
      const need = 5 + head.readUInt16BE(3);
      if (head.length < need) return;
      const sni = sniOf(head.subarray(0, need));
      done(sni === undefined ? undefined : { head, sni });
    };
    const onGone = () => done(undefined);
    const timer = setTimeout(onGone, timeoutMs);
    timer.unref?.();
    socket.on('data', onData);
    socket.once('close', onGone);
    socket.once('error', onGone);
  });
}
