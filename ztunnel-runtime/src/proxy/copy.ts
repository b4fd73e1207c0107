// Bidirectional byte copy between two Duplexes with half-close and backpressure, without per-connection closures:
// a held connection costs one small link object (the handlers are shared, module-level functions).
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface CopyResult {
  /** First error seen on either side, if any. */
  error?: Error;
}

/** Told once, when both sides have closed. */
export interface CopyOwner {
  copyDone(result: CopyResult): void;
}

const kLink = Symbol('ambit.copyLink');
type Linked = Duplex & { [kLink]?: Link };

class Link {
  error: Error | undefined = undefined;
  closed = 0;
  constructor(
    readonly a: Duplex,
    readonly b: Duplex,
    readonly resetA: boolean,
    readonly owner: CopyOwner,
  ) {}

  other(s: Duplex): Duplex {
    return s === this.a ? this.b : this.a;
  }

  /** Errored or reset: tear `other` down (the client socket with a TCP RST when `resetA`). */
  kill(other: Duplex): void {
    if (other === this.a && this.resetA && typeof (this.a as Socket).resetAndDestroy === 'function' && !this.a.destroyed) (this.a as Socket).resetAndDestroy();
    else other.destroy();
  }
}

function onData(this: Linked, chunk: Buffer): void {
  const other = this[kLink]!.other(this);
  // The other side can take no more (closed or finished): stop reading, as pipe() unpipes.
  if (other.destroyed || other.writableEnded) this.pause();
  else if (!other.write(chunk)) this.pause();
}

function onDrain(this: Linked): void {
  const l = this[kLink]!;
  const src = l.other(this);
  if (!src.destroyed && !src.readableEnded) src.resume();
}

function onEnd(this: Linked): void {
  const other = this[kLink]!.other(this);
  if (!other.writableEnded && !other.destroyed) other.end();
}

function onError(this: Linked, e: Error): void {
  const l = this[kLink]!;
  l.error ??= e;
  l.kill(l.other(this));
}

function onClose(this: Linked): void {
  const l = this[kLink]!;
  l.closed++;
  if (l.closed === 2) {
    l.a.off('data', onData).off('drain', onDrain).off('end', onEnd);
    l.b.off('data', onData).off('drain', onDrain).off('end', onEnd);
    l.owner.copyDone({ error: l.error });
    return;
  }
  // Errored or reset: tear the other side down; clean close: let the other side finish its half.
  const other = l.other(this);
  if (this.errored || l.error) l.kill(other);
  else if (!other.writableEnded) other.end();
}

function attach(s: Linked, l: Link): void {
  s[kLink] = l;
  s.on('error', onError);
  s.on('close', onClose);
  s.on('drain', onDrain);
  s.on('end', onEnd);
  s.on('data', onData);
}

/**
 * Copies a -> b and b -> a until both have closed, then calls `owner.copyDone`. `resetA`: when b fails, reset a
 * (TCP RST) instead of closing it, as ztunnel does to the client socket.
 */
export function splice(a: Duplex, b: Duplex, owner: CopyOwner, opts: { resetA?: boolean } = {}): void {
  const l = new Link(a, b, opts.resetA === true, owner);
  attach(a, l);
  attach(b, l);
  for (const s of [a, b]) if (s.readableFlowing !== true && !s.readableEnded) s.resume();
}
