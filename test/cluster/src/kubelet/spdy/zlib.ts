// SPDY/3 header-block compression: one zlib context per connection and direction, primed with the SPDY/3
// dictionary, each header block ending on a sync flush (SPDY/3 draft, section 2.6.10).
//
// Sending: the compressor writes a zlib stream made of stored (uncompressed) deflate blocks. That is a valid zlib
// stream with the dictionary declared (FDICT/DICTID), which every inflater, Go's compress/zlib included, reads; it
// needs no state beyond "header written" and is synchronous. Our header blocks are a few bytes (SYN_REPLY carries
// none), so compressing them would save nothing. Each block ends, as a Z_SYNC_FLUSH does, with an empty stored
// block (00 00 00 ff ff): Go's flate reader hands out a stored block's bytes only when the next block starts, and
// reading past the frame would fail the connection's decompressor for good.
//
// Receiving: the peer (Go's spdystream) compresses for real, with back-references into earlier blocks of the same
// connection. Node's public zlib API is either asynchronous streaming or one-shot; to decode synchronously and in
// frame order we keep the compressed bytes of the connection so far and inflate them in one shot, stopping at the
// last sync flush (finishFlush Z_SYNC_FLUSH), then take the output after what earlier blocks produced. Header
// traffic on a kubelet connection is a handful of small blocks, so the replay costs nothing; the history is
// capped so a peer cannot make it grow without bound.
import { constants, inflateSync } from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';

export function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < buf.length; ) {
    const end = Math.min(i + 3800, buf.length); // keep the sums below 2^32 before reducing
    for (; i < end; i++) {
      a += buf[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const DICT_ID = adler32(SPDY3_DICTIONARY);
const MAX_STORED = 0xffff;
/** The empty stored block a sync flush ends with. */
export const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

export class HeaderCompressor {
  private started = false;

  compress(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      const cmf = 0x78; // deflate, 32K window
      let flg = 0x20; // FDICT, FLEVEL 0
      flg += (31 - ((cmf * 256 + flg) % 31)) % 31; // FCHECK
      const head = Buffer.alloc(6);
      head[0] = cmf;
      head[1] = flg;
      head.writeUInt32BE(DICT_ID, 2);
      parts.push(head);
    }
    let off = 0;
    while (off < block.length) {
      const len = Math.min(MAX_STORED, block.length - off);
      const hdr = Buffer.alloc(5);
      hdr[0] = 0x00; // BFINAL=0, BTYPE=00 (stored), padding to the byte boundary
      hdr.writeUInt16LE(len, 1);
      hdr.writeUInt16LE(~len & 0xffff, 3);
      parts.push(hdr, block.subarray(off, off + len));
      off += len;
    }
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

export class HeaderDecompressor {
  private history: Buffer[] = [];
  private historyBytes = 0;
  private produced = 0;

  constructor(
    private readonly maxHistoryBytes = 256 * 1024,
    private readonly maxOutputBytes = 1024 * 1024,
  ) {}

  decompress(block: Buffer): Buffer {
    this.historyBytes += block.length;
    if (this.historyBytes > this.maxHistoryBytes) {
      throw new Error(`compressed header bytes on this connection exceed ${this.maxHistoryBytes}`);
    }
    this.history.push(block);
    const all = Buffer.concat(this.history);
    this.history = [all];
    const out = inflateSync(all, {
      dictionary: SPDY3_DICTIONARY,
      finishFlush: constants.Z_SYNC_FLUSH,
      maxOutputLength: this.maxOutputBytes,
    });
    if (out.length < this.produced) throw new Error('header stream went backwards');
    const fresh = out.subarray(this.produced);
    this.produced = out.length;
    return fresh;
  }
}
