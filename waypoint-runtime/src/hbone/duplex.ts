// A plain JS Duplex around another stream (an Http2Stream of an HBONE tunnel). Node's HTTP/1 server and
// undici's client both expect socket-like objects; a raw Http2Stream handed to them misbehaved on Node 20
// (corrupted status line), a wrapper does not. setTimeout keeps net.Socket's meaning (a 'timeout' event after
// that long without a byte either way), which is how Node's HTTP server ends an idle keep-alive connection;
// the other socket methods the HTTP stack may call are no-ops.

import { Duplex } from 'node:stream';

export class StreamDuplex extends Duplex {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  readonly #inner: Duplex;
  #idleMs = 0;
  #idleTimer?: NodeJS.Timeout;

  constructor(inner: Duplex, addr: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number } = {}) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    Object.assign(this, addr);
    inner.on('data', (chunk: Buffer) => {
      this.#touch();
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  override _read(): void {
    this.#inner.resume();
  }
  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#touch();
    this.#inner.write(chunk, encoding, cb);
  }
  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: (err?: Error | null) => void): void {
    this.#touch();
    this.#inner.write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.#inner.end(cb);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.#idleTimer);
    if (!this.#inner.destroyed) this.#inner.destroy(err ?? undefined);
    cb(err);
  }
  /** As net.Socket: 'timeout' after `ms` without a byte read or written (0: never); `cb` listens for it once. */
  setTimeout(ms: number, cb?: () => void): this {
    this.#idleMs = ms > 0 && Number.isFinite(ms) ? ms : 0;
    if (cb) {
      if (this.#idleMs === 0) this.off('timeout', cb);
      else this.once('timeout', cb);
    }
    this.#touch();
    return this;
  }
  #touch(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#idleMs === 0 || this.destroyed) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      this.emit('timeout');
    }, this.#idleMs);
    this.#idleTimer.unref?.();
  }
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }
  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
