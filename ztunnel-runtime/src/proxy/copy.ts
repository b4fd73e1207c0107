// Bidirectional byte copy between two Duplexes with half-close; resolves when both sides closed.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface CopyResult {
  /** First error seen on either side, if any. */
  error?: Error;
}

/** `resetA`: when b fails, reset a (TCP RST) instead of closing it, as ztunnel does to the client socket. */
export function copyBidirectional(a: Duplex, b: Duplex, opts: { resetA?: boolean } = {}): Promise<CopyResult> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    let closed = 0;
    const onClose = (self: Duplex, other: Duplex) => () => {
      closed++;
      if (closed === 2) {
        resolve({ error });
        return;
      }
      // Errored or reset: tear the other side down; clean close: let the other side finish its half.
      if (self.errored || error) kill(other);
      else if (!other.writableEnded) other.end();
    };
    const kill = (other: Duplex) => {
      if (other === a && opts.resetA && typeof (a as Socket).resetAndDestroy === 'function' && !a.destroyed) (a as Socket).resetAndDestroy();
      else other.destroy();
    };
    const onError = (other: Duplex) => (e: Error) => {
      error ??= e;
      kill(other);
    };
    a.on('error', onError(b));
    b.on('error', onError(a));
    a.once('close', onClose(a, b));
    b.once('close', onClose(b, a));
    a.pipe(b);
    b.pipe(a);
  });
}
