// SPDY/3.1 framing (SPDY/3 draft section 2.2, plus 3.1's session flow control): every frame is an 8-byte header
// and a payload of at most 2^24-1 bytes.
//   control: 1 | version(15) | type(16) ; flags(8) | length(24)
//   data:    0 | stream id(31)          ; flags(8) | length(24)
// This module only turns bytes into frame objects and back; header blocks stay compressed here (see zlib.ts).

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

export const SETTINGS_INITIAL_WINDOW_SIZE = 7;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'syn_stream'; streamId: number; associatedId: number; priority: number; flags: number; block: Buffer }
  | { kind: 'syn_reply'; streamId: number; flags: number; block: Buffer }
  | { kind: 'headers'; streamId: number; flags: number; block: Buffer }
  | { kind: 'rst_stream'; streamId: number; status: number }
  | { kind: 'settings'; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  | { kind: 'window_update'; streamId: number; delta: number }
  | { kind: 'unknown'; type: number };

export class FrameError extends Error {}

const MAX_LENGTH = 0xffffff;

function header(word0: number, flags: number, length: number): Buffer {
  if (length > MAX_LENGTH) throw new FrameError(`frame payload of ${length} bytes is too large`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(word0 >>> 0, 0);
  h.writeUInt32BE(((flags & 0xff) << 24 | length) >>> 0, 4);
  return h;
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  return Buffer.concat([header((0x8000 | SPDY_VERSION) << 16 | type, flags, payload.length), payload]);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

export const encode = {
  data(streamId: number, data: Buffer, fin: boolean): Buffer {
    return Buffer.concat([header(streamId & 0x7fffffff, fin ? FLAG_FIN : 0, data.length), data]);
  },
  synStream(streamId: number, block: Buffer, opts: { fin?: boolean; unidirectional?: boolean; priority?: number } = {}): Buffer {
    const flags = (opts.fin ? FLAG_FIN : 0) | (opts.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(streamId & 0x7fffffff, 0);
    fixed.writeUInt32BE(0, 4); // associated-to stream id
    fixed[8] = ((opts.priority ?? 0) & 0x7) << 5;
    fixed[9] = 0; // slot
    return control(FrameType.SYN_STREAM, flags, Buffer.concat([fixed, block]));
  },
  synReply(streamId: number, block: Buffer, fin = false): Buffer {
    return control(FrameType.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId & 0x7fffffff), block]));
  },
  headers(streamId: number, block: Buffer, fin = false): Buffer {
    return control(FrameType.HEADERS, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId & 0x7fffffff), block]));
  },
  rstStream(streamId: number, status: number): Buffer {
    return control(FrameType.RST_STREAM, 0, u32s(streamId & 0x7fffffff, status));
  },
  settings(entries: { flags?: number; id: number; value: number }[]): Buffer {
    const words = [entries.length];
    for (const e of entries) words.push((((e.flags ?? 0) & 0xff) << 24 | (e.id & 0xffffff)) >>> 0, e.value);
    return control(FrameType.SETTINGS, 0, u32s(...words));
  },
  ping(id: number): Buffer {
    return control(FrameType.PING, 0, u32s(id));
  },
  goAway(lastGoodStreamId: number, status: number): Buffer {
    return control(FrameType.GOAWAY, 0, u32s(lastGoodStreamId & 0x7fffffff, status));
  },
  windowUpdate(streamId: number, delta: number): Buffer {
    return control(FrameType.WINDOW_UPDATE, 0, u32s(streamId & 0x7fffffff, delta & 0x7fffffff));
  },
};

function need(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) throw new FrameError(`${what} frame of ${payload.length} bytes is too short`);
}

function exact(payload: Buffer, n: number, what: string): void {
  if (payload.length !== n) throw new FrameError(`${what} frame has length ${payload.length}, want ${n}`);
}

function decodeControl(type: number, flags: number, p: Buffer): Frame {
  switch (type) {
    case FrameType.SYN_STREAM:
      need(p, 10, 'SYN_STREAM');
      return {
        kind: 'syn_stream',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        associatedId: p.readUInt32BE(4) & 0x7fffffff,
        priority: p[8]! >> 5,
        flags,
        block: p.subarray(10),
      };
    case FrameType.SYN_REPLY:
      need(p, 4, 'SYN_REPLY');
      return { kind: 'syn_reply', streamId: p.readUInt32BE(0) & 0x7fffffff, flags, block: p.subarray(4) };
    case FrameType.HEADERS:
      need(p, 4, 'HEADERS');
      return { kind: 'headers', streamId: p.readUInt32BE(0) & 0x7fffffff, flags, block: p.subarray(4) };
    case FrameType.RST_STREAM:
      exact(p, 8, 'RST_STREAM');
      return { kind: 'rst_stream', streamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
    case FrameType.SETTINGS: {
      need(p, 4, 'SETTINGS');
      const n = p.readUInt32BE(0);
      exact(p, 4 + n * 8, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < n; i++) {
        const w = p.readUInt32BE(4 + i * 8);
        entries.push({ flags: w >>> 24, id: w & 0xffffff, value: p.readUInt32BE(8 + i * 8) });
      }
      return { kind: 'settings', flags, entries };
    }
    case FrameType.PING:
      exact(p, 4, 'PING');
      return { kind: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GOAWAY:
      exact(p, 8, 'GOAWAY');
      return { kind: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
    case FrameType.WINDOW_UPDATE:
      exact(p, 8, 'WINDOW_UPDATE');
      return { kind: 'window_update', streamId: p.readUInt32BE(0) & 0x7fffffff, delta: p.readUInt32BE(4) & 0x7fffffff };
    default:
      return { kind: 'unknown', type };
  }
}

/** Incremental frame reader: push() socket bytes, get whole frames back. Throws FrameError on a malformed frame. */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxPayload = MAX_LENGTH) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.buf.length >= 8) {
      const w0 = this.buf.readUInt32BE(0);
      const w1 = this.buf.readUInt32BE(4);
      const flags = w1 >>> 24;
      const length = w1 & 0xffffff;
      if (length > this.maxPayload) throw new FrameError(`frame payload of ${length} bytes exceeds ${this.maxPayload}`);
      if (this.buf.length < 8 + length) break;
      const payload = Buffer.from(this.buf.subarray(8, 8 + length)); // copy: the frame may outlive this buffer
      this.buf = this.buf.subarray(8 + length);
      if (w0 & 0x80000000) {
        const version = (w0 >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new FrameError(`unsupported SPDY version ${version}`);
        frames.push(decodeControl(w0 & 0xffff, flags, payload));
      } else {
        const streamId = w0 & 0x7fffffff;
        if (streamId === 0) throw new FrameError('data frame on stream 0');
        frames.push({ kind: 'data', streamId, flags, data: payload });
      }
    }
    return frames;
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    return this.buf.length;
  }
}
