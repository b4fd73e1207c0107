// SPDY/3.1 building blocks of the kubelet server: dictionary, header compression, header blocks, frames.
import test from 'ava';
import { inflateSync, createDeflate, constants, deflateSync } from 'node:zlib';
import { SPDY3_DICTIONARY } from '../src/kubelet/spdy/dictionary.js';
import { encode, FrameParser, FrameError, FLAG_FIN } from '../src/kubelet/spdy/frames.js';
import { decodeHeaderBlock, encodeHeaderBlock } from '../src/kubelet/spdy/headers.js';
import { adler32, HeaderCompressor, HeaderDecompressor, SYNC_FLUSH_MARKER } from '../src/kubelet/spdy/zlib.js';

test('the SPDY/3 dictionary is the 1423 bytes whose Adler-32 peers name as DICTID', (t) => {
  t.is(SPDY3_DICTIONARY.length, 1423);
  t.is(adler32(SPDY3_DICTIONARY), 0xe3c6a7c2);
  t.is(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\x07options');
  t.true(SPDY3_DICTIONARY.toString('latin1').endsWith(',*,enq=0.'));
});

test('adler32 matches zlib on a large buffer', (t) => {
  const buf = Buffer.alloc(200_000, 0xff);
  const z = deflateSync(buf); // a zlib stream ends with the Adler-32 of its data
  t.is(adler32(buf), z.readUInt32BE(z.length - 4));
  t.is(adler32(Buffer.from('Wikipedia')), 0x11e60398);
});

test('our header blocks inflate with the dictionary, one sync-flushed block after another', (t) => {
  const c = new HeaderCompressor();
  const a = c.compress(encodeHeaderBlock({ streamtype: ['error'] }));
  const b = c.compress(encodeHeaderBlock({ streamtype: ['stdout'], 'x-two': ['a', 'b'] }));
  t.is(a.readUInt16BE(0) % 31, 0);
  t.is(a[1]! & 0x20, 0x20, 'FDICT set');
  t.is(a.readUInt32BE(2), 0xe3c6a7c2, 'DICTID names the SPDY/3 dictionary');
  // Go's flate reader releases a stored block's bytes only once the next block starts: every block must end the
  // way a sync flush does, or the peer's decompressor reads past the frame and fails for good.
  t.deepEqual(a.subarray(-5), SYNC_FLUSH_MARKER);
  t.deepEqual(b.subarray(-5), SYNC_FLUSH_MARKER);
  const whole = inflateSync(Buffer.concat([a, b]), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  const first = encodeHeaderBlock({ streamtype: ['error'] });
  t.deepEqual(decodeHeaderBlock(whole.subarray(0, first.length)), { streamtype: ['error'] });
  t.deepEqual(decodeHeaderBlock(whole.subarray(first.length)), { streamtype: ['stdout'], 'x-two': ['a', 'b'] });
});

async function realDeflateBlocks(blocks: Buffer[]): Promise<Buffer[]> {
  // A peer that really compresses (as Go's spdystream does): one deflate context, sync flush per block.
  const d = createDeflate({ dictionary: SPDY3_DICTIONARY, level: 9 });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const result: Buffer[] = [];
  for (const b of blocks) {
    d.write(b);
    await new Promise<void>((r) => d.flush(constants.Z_SYNC_FLUSH, () => r()));
    result.push(Buffer.concat(out.splice(0)));
  }
  d.close();
  return result;
}

test('the decompressor follows a real compressor across blocks (back-references into earlier blocks)', async (t) => {
  const plain = [
    encodeHeaderBlock({ streamtype: ['error'] }),
    encodeHeaderBlock({ streamtype: ['stdin'] }),
    encodeHeaderBlock({ streamtype: ['stdout'] }),
    encodeHeaderBlock({ streamtype: ['stderr'] }),
  ];
  const compressed = await realDeflateBlocks(plain);
  const d = new HeaderDecompressor();
  t.deepEqual(
    compressed.map((c) => decodeHeaderBlock(d.decompress(c))),
    [{ streamtype: ['error'] }, { streamtype: ['stdin'] }, { streamtype: ['stdout'] }, { streamtype: ['stderr'] }],
  );
});

test('the decompressor refuses garbage and unbounded history', (t) => {
  t.throws(() => new HeaderDecompressor().decompress(Buffer.from('not zlib at all')));
  const d = new HeaderDecompressor(64);
  const c = new HeaderCompressor();
  t.throws(() => d.decompress(c.compress(Buffer.alloc(100))), { message: /exceed/ });
});

test('header blocks: NUL-joined values, lowercase names, truncation is an error', (t) => {
  const block = encodeHeaderBlock({ StreamType: ['stdin'], multi: ['a', 'b'] });
  t.deepEqual(decodeHeaderBlock(block), { streamtype: ['stdin'], multi: ['a', 'b'] });
  t.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), { message: /truncated/ });
  t.throws(() => decodeHeaderBlock(Buffer.concat([block, Buffer.from([0])])), { message: /trailing/ });
});

test('frames round-trip through the parser, split at any byte', (t) => {
  const bytes = Buffer.concat([
    encode.synStream(1, Buffer.from([1, 2, 3]), { fin: true }),
    encode.synReply(1, Buffer.from([4])),
    encode.data(1, Buffer.from('hello'), true),
    encode.rstStream(3, 5),
    encode.settings([{ id: 7, value: 65536 }]),
    encode.ping(7),
    encode.goAway(9, 0),
    encode.windowUpdate(0, 1000),
    encode.headers(5, Buffer.alloc(0), true),
  ]);
  for (const split of [1, 3, 8, 17, bytes.length]) {
    const p = new FrameParser();
    const frames = [];
    for (let i = 0; i < bytes.length; i += split) frames.push(...p.push(bytes.subarray(i, i + split)));
    t.deepEqual(
      frames.map((f) => f.kind),
      ['syn_stream', 'syn_reply', 'data', 'rst_stream', 'settings', 'ping', 'goaway', 'window_update', 'headers'],
    );
    const [syn, , data, rst, settings, ping, goaway, wu] = frames;
    t.like(syn, { streamId: 1, flags: FLAG_FIN, block: Buffer.from([1, 2, 3]) });
    t.like(data, { streamId: 1, flags: FLAG_FIN, data: Buffer.from('hello') });
    t.like(rst, { streamId: 3, status: 5 });
    t.like(settings, { entries: [{ flags: 0, id: 7, value: 65536 }] });
    t.like(ping, { id: 7 });
    t.like(goaway, { lastGoodStreamId: 9, status: 0 });
    t.like(wu, { streamId: 0, delta: 1000 });
    t.is(p.pending, 0);
  }
});

test('malformed frames are errors, not crashes', (t) => {
  const bad = (b: Buffer) => t.throws(() => new FrameParser().push(b), { instanceOf: FrameError });
  bad(Buffer.from([0x80, 0x02, 0x00, 0x01, 0, 0, 0, 0])); // SPDY/2 control frame
  bad(Buffer.from([0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1])); // RST_STREAM of 4 bytes
  bad(Buffer.from([0x80, 0x03, 0x00, 0x06, 0, 0, 0, 0])); // PING without id
  bad(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0x41])); // data on stream 0
  t.throws(() => new FrameParser(16).push(encode.data(1, Buffer.alloc(17), false)), { instanceOf: FrameError });
  t.deepEqual(new FrameParser().push(Buffer.from([0x80, 0x03, 0x00, 0x0a, 0, 0, 0, 1, 9])), [{ kind: 'unknown', type: 10 }]);
});
