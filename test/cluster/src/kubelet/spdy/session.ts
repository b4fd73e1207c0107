// A SPDY/3.1 session over one socket: stream multiplexing, SYN/RST/GOAWAY, PING echo and receive-side flow
// control. Used as the server end by the kubelet's exec handler and as the client end by the tests.
//
// Flow control: we advertise nothing special and send WINDOW_UPDATEs for what we consume, so a peer that honours
// SPDY/3.1 windows keeps sending. We do not hold our own sends to the peer's window: Go's spdystream (the client
// inside kube-apiserver) never sends WINDOW_UPDATE, so honouring windows would stall after 64 KiB. Sends are paced
// by TCP back-pressure instead, as spdystream's are.
//
// A malformed frame or header block closes this session only (GOAWAY PROTOCOL_ERROR, then the socket), with a
// log line; it never throws out of the socket's event handlers.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { encode, FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameParser, GoAwayStatus, RstStatus, type Frame } from './frames.js';
import { decodeHeaderBlock, encodeHeaderBlock, type SpdyHeaders } from './headers.js';
import { HeaderCompressor, HeaderDecompressor } from './zlib.js';

export type SpdyLog = (line: string) => void;

const MAX_DATA_FRAME = 32 * 1024;
const DEFAULT_WINDOW = 64 * 1024;

export class SpdyStream extends Duplex {
  /** Set once the peer answered a stream we opened (SYN_REPLY). */
  replyHeaders?: SpdyHeaders;
  /** We sent FIN or RST: nothing more goes out. */
  localClosed = false;
  /** The peer sent FIN or RST: nothing more comes in. */
  remoteClosed = false;
  /** RST_STREAM status when the stream was reset (by either side). */
  resetStatus?: number;
  /** @internal bytes received and not yet acknowledged with WINDOW_UPDATE */
  unacked = 0;
  /** @internal */
  replyWaiter?: { resolve: (h: SpdyHeaders) => void; reject: (e: Error) => void };

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    this.session.resumeReading();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.session.sendData(this, chunk, false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.session.sendData(this, Buffer.alloc(0), true, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.localClosed || !this.remoteClosed) this.session.resetStream(this, RstStatus.CANCEL);
    cb(err);
  }

  /** Abort the stream with RST_STREAM. */
  reset(status: number = RstStatus.CANCEL): void {
    this.session.resetStream(this, status);
  }
}

export interface SpdySessionOptions {
  role: 'server' | 'client';
  log: SpdyLog;
  /** Describes the peer in log lines. */
  peer: string;
}

export class SpdySession extends EventEmitter<{
  stream: [SpdyStream];
  goaway: [number];
  close: [];
}> {
  readonly role: 'server' | 'client';
  private readonly log: SpdyLog;
  private readonly peer: string;
  private readonly parser = new FrameParser();
  private readonly deflater = new HeaderCompressor();
  private readonly inflater = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private nextLocalId: number;
  private lastRemoteId = 0;
  private sessionUnacked = 0;
  private pausedByUs = false;
  private pings = new Map<number, () => void>();
  private nextPingId: number;
  /** We sent GOAWAY: no new streams accepted. */
  goneAway = false;
  /** The peer sent GOAWAY. */
  peerGoneAway = false;
  closed = false;

  constructor(
    private readonly socket: Socket,
    opts: SpdySessionOptions,
  ) {
    super();
    this.role = opts.role;
    this.log = opts.log;
    this.peer = opts.peer;
    this.nextLocalId = this.role === 'client' ? 1 : 2;
    this.nextPingId = this.role === 'client' ? 1 : 2;
  }

  /** Start reading; `head` is what the HTTP layer already read past the upgrade response. */
  start(head?: Buffer): void {
    this.socket.setNoDelay?.(true);
    this.socket.setTimeout?.(0);
    this.socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    this.socket.on('error', () => undefined); // reported by the socket's owner; 'close' follows
    this.socket.on('close', () => this.onSocketClose());
    this.socket.on('end', () => this.socket.end());
    if (head?.length) this.onBytes(head);
  }

  /** Open a stream (client side of kubectl-style protocols). Resolves with the stream once the peer replied. */
  openStream(headers: SpdyHeaders, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.closed || this.peerGoneAway) return Promise.reject(new Error('session is closed'));
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    const replied = new Promise<SpdyStream>((resolve, reject) => {
      stream.replyWaiter = { resolve: () => resolve(stream), reject };
    });
    this.write(encode.synStream(id, this.deflater.compress(encodeHeaderBlock(headers)), { fin: opts.fin }));
    if (opts.fin) {
      stream.localClosed = true;
      stream.end();
    }
    return replied;
  }

  /** Accept a stream the peer opened: SYN_REPLY with (usually no) headers. */
  reply(stream: SpdyStream, headers: SpdyHeaders = {}, fin = false): void {
    this.write(encode.synReply(stream.id, this.deflater.compress(encodeHeaderBlock(headers)), fin));
    if (fin) this.markLocalClosed(stream);
  }

  ping(): Promise<void> {
    const id = this.nextPingId;
    this.nextPingId += 2;
    return new Promise((resolve) => {
      this.pings.set(id, resolve);
      this.write(encode.ping(id));
    });
  }

  /** Send GOAWAY (status OK) and stop accepting streams; open streams carry on. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.goneAway || this.closed) return;
    this.goneAway = true;
    this.write(encode.goAway(this.lastRemoteId, status));
  }

  /** Graceful end: RST whatever is still open, GOAWAY, then close the socket once written. */
  close(): void {
    if (this.closed) return;
    for (const s of [...this.streams.values()]) this.resetStream(s, RstStatus.CANCEL);
    this.goAway();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 10_000).unref(); // a peer that never closes its side
  }

  destroy(): void {
    this.socket.destroy();
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** @internal */
  sendData(stream: SpdyStream, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    if (stream.localClosed || this.closed) {
      // The peer reset the stream or went away: drop what the producer still writes.
      cb();
      return;
    }
    let ok = true;
    if (data.length === 0) {
      ok = this.write(encode.data(stream.id, data, fin));
    } else {
      for (let off = 0; off < data.length; off += MAX_DATA_FRAME) {
        const end = Math.min(off + MAX_DATA_FRAME, data.length);
        ok = this.write(encode.data(stream.id, data.subarray(off, end), fin && end === data.length));
      }
    }
    if (fin) this.markLocalClosed(stream);
    if (ok || this.closed) cb();
    else this.waitDrain(cb);
  }

  /** @internal */
  resetStream(stream: SpdyStream, status: number): void {
    if (stream.resetStatus !== undefined || (stream.localClosed && stream.remoteClosed)) return;
    stream.resetStatus = status;
    if (!this.closed) this.write(encode.rstStream(stream.id, status));
    stream.localClosed = true;
    this.markRemoteClosed(stream);
  }

  /** @internal */
  resumeReading(): void {
    if (this.pausedByUs) {
      this.pausedByUs = false;
      this.socket.resume();
    }
  }

  private waitDrain(cb: () => void): void {
    const done = () => {
      this.socket.off('drain', done);
      this.socket.off('close', done);
      cb();
    };
    this.socket.on('drain', done);
    this.socket.on('close', done);
  }

  private write(buf: Buffer): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(buf);
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (err) {
      this.fail((err as Error).message);
      return;
    }
    for (const frame of frames) {
      try {
        this.handle(frame);
      } catch (err) {
        this.fail(`${frame.kind} frame: ${(err as Error).message}`);
        return;
      }
      if (this.closed) return;
    }
  }

  private headersOf(block: Buffer): SpdyHeaders {
    return decodeHeaderBlock(this.inflater.decompress(block));
  }

  private handle(f: Frame): void {
    switch (f.kind) {
      case 'syn_stream': {
        const headers = this.headersOf(f.block); // always inflate: the zlib context must stay in step
        const fromPeerSide = this.role === 'server' ? f.streamId % 2 === 1 : f.streamId % 2 === 0;
        if (!fromPeerSide || f.streamId <= this.lastRemoteId) {
          this.write(encode.rstStream(f.streamId, RstStatus.PROTOCOL_ERROR));
          return;
        }
        this.lastRemoteId = f.streamId;
        if (this.goneAway || this.role === 'client') {
          this.write(encode.rstStream(f.streamId, RstStatus.REFUSED_STREAM));
          return;
        }
        const stream = new SpdyStream(this, f.streamId, headers);
        this.streams.set(f.streamId, stream);
        if (f.flags & FLAG_UNIDIRECTIONAL) this.markLocalClosed(stream);
        this.emit('stream', stream);
        if (f.flags & FLAG_FIN) this.markRemoteClosed(stream);
        return;
      }
      case 'syn_reply': {
        const headers = this.headersOf(f.block);
        const stream = this.streams.get(f.streamId);
        if (!stream || stream.replyHeaders) return;
        stream.replyHeaders = headers;
        stream.replyWaiter?.resolve(headers);
        stream.replyWaiter = undefined;
        if (f.flags & FLAG_FIN) this.markRemoteClosed(stream);
        return;
      }
      case 'headers': {
        this.headersOf(f.block);
        const stream = this.streams.get(f.streamId);
        if (stream && f.flags & FLAG_FIN) this.markRemoteClosed(stream);
        return;
      }
      case 'data': {
        this.sessionUnacked += f.data.length;
        if (this.sessionUnacked >= DEFAULT_WINDOW / 2) {
          this.write(encode.windowUpdate(0, this.sessionUnacked));
          this.sessionUnacked = 0;
        }
        const stream = this.streams.get(f.streamId);
        if (!stream || stream.remoteClosed) return; // late data for a stream already closed or reset: drop
        if (f.data.length) {
          stream.unacked += f.data.length;
          if (stream.unacked >= DEFAULT_WINDOW / 2) {
            this.write(encode.windowUpdate(stream.id, stream.unacked));
            stream.unacked = 0;
          }
          if (!stream.push(f.data) && !this.pausedByUs) {
            this.pausedByUs = true;
            this.socket.pause();
          }
        }
        if (f.flags & FLAG_FIN) this.markRemoteClosed(stream);
        return;
      }
      case 'rst_stream': {
        const stream = this.streams.get(f.streamId);
        if (!stream) return;
        stream.resetStatus = f.status;
        stream.localClosed = true;
        stream.replyWaiter?.reject(new Error(`stream ${stream.id} was reset (status ${f.status})`));
        stream.replyWaiter = undefined;
        this.markRemoteClosed(stream);
        return;
      }
      case 'ping': {
        const peerInitiated = this.role === 'server' ? f.id % 2 === 1 : f.id % 2 === 0;
        if (peerInitiated) {
          this.write(encode.ping(f.id));
        } else {
          this.pings.get(f.id)?.();
          this.pings.delete(f.id);
        }
        return;
      }
      case 'goaway':
        this.peerGoneAway = true;
        this.emit('goaway', f.status);
        return;
      case 'settings':
      case 'window_update':
      case 'unknown':
        return;
    }
  }

  private markLocalClosed(stream: SpdyStream): void {
    stream.localClosed = true;
    this.maybeForget(stream);
  }

  private markRemoteClosed(stream: SpdyStream): void {
    if (!stream.remoteClosed) {
      stream.remoteClosed = true;
      stream.push(null);
    }
    this.maybeForget(stream);
  }

  private maybeForget(stream: SpdyStream): void {
    if (stream.localClosed && stream.remoteClosed) this.streams.delete(stream.id);
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.log(`spdy: closing connection from ${this.peer}: protocol error: ${reason}`);
    this.write(encode.goAway(this.lastRemoteId, GoAwayStatus.PROTOCOL_ERROR));
    this.goneAway = true;
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onSocketClose();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) {
      stream.localClosed = true;
      stream.replyWaiter?.reject(new Error('connection closed'));
      stream.replyWaiter = undefined;
      if (!stream.remoteClosed) {
        stream.remoteClosed = true;
        stream.push(null);
      }
    }
    this.streams.clear();
    for (const done of this.pings.values()) done();
    this.pings.clear();
    this.emit('close');
  }
}
