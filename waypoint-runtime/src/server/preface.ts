// Which HTTP version a tunnelled connection speaks, from its first bytes: HTTP/2 with prior knowledge starts with
// the connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4: what gRPC clients and
// `curl --http2-prior-knowledge` send); anything else is HTTP/1.x. Bytes are read only until they can no longer be
// a prefix of the preface (one byte for every HTTP/1 method but PRI), then put back for the server that takes
// the connection.

import type { Duplex } from 'node:stream';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type WireProtocol = 'h2' | 'http1';

/** `h2`/`http1` once decided; undefined while the bytes so far are a strict prefix of the preface. */
export function protocolOfHead(head: Buffer): WireProtocol | undefined {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (head.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'http1';
  return n === H2_PREFACE.length ? 'h2' : undefined;
}

/**
 * Resolves with the protocol once decided, the bytes read pushed back and the stream paused (the caller hands it
 * on, then resumes it); null when the stream ended, failed or stayed silent for `idleMs` before that (the stream
 * is then destroyed).
 */
export function detectProtocol(conn: Duplex, idleMs: number): Promise<WireProtocol | null> {
  return new Promise((resolve) => {
    let head: Buffer = Buffer.alloc(0);
    const finish = (result: WireProtocol | null) => {
      clearTimeout(timer);
      conn.off('data', onData);
      conn.off('end', onGone);
      conn.off('close', onGone);
      conn.off('error', onGone);
      if (result === null) {
        if (!conn.destroyed) conn.destroy();
      } else {
        conn.pause();
        conn.unshift(head);
      }
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const kind = protocolOfHead(head);
      if (kind) finish(kind);
    };
    const onGone = () => finish(null);
    const timer = setTimeout(onGone, idleMs);
    timer.unref?.();
    conn.on('data', onData);
    conn.once('end', onGone);
    conn.once('close', onGone);
    conn.once('error', onGone);
  });
}
