// A misbehaving SPDY peer closes its own session, never the process: random bytes, mutated transcripts and
// protocol violations against a server-side session.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { duplexPair } from 'node:stream';
import { encode, FrameParser, RstStatus } from '../src/kubelet/spdy/frames.js';
import { encodeHeaderBlock } from '../src/kubelet/spdy/headers.js';
import { SpdySession, type SpdyStream } from '../src/kubelet/spdy/session.js';
import { HeaderCompressor } from '../src/kubelet/spdy/zlib.js';

function serverSession(): { session: SpdySession; peer: ReturnType<typeof duplexPair>[1]; logs: string[]; received: Buffer[] } {
  const [ours, peer] = duplexPair();
  const logs: string[] = [];
  const received: Buffer[] = [];
  peer.on('data', (c: Buffer) => received.push(c));
  const session = new SpdySession(ours as unknown as Socket, { role: 'server', log: (l) => logs.push(l), peer: 'fuzz' });
  session.on('stream', (s: SpdyStream) => {
    session.reply(s);
    s.resume();
  });
  session.start();
  return { session, peer, logs, received };
}

/** A plausible exec transcript: SYN_STREAMs with real header blocks, data, FIN, PING, GOAWAY. */
function transcript(): Buffer {
  const c = new HeaderCompressor();
  const syn = (id: number, type: string) => encode.synStream(id, c.compress(encodeHeaderBlock({ streamtype: [type] })));
  return Buffer.concat([
    syn(1, 'error'),
    syn(3, 'stdin'),
    syn(5, 'stdout'),
    encode.data(3, Buffer.from('hello'), false),
    encode.ping(1),
    encode.data(3, Buffer.alloc(0), true),
    encode.rstStream(5, RstStatus.CANCEL),
    encode.windowUpdate(0, 100),
    encode.settings([{ id: 7, value: 1 << 20 }]),
    encode.goAway(0, 0),
  ]);
}

const tick = () => new Promise((r) => setImmediate(r));

test('random bytes: the session closes itself or waits for more, never throws', async (t) => {
  for (let i = 0; i < 300; i++) {
    const { peer } = serverSession();
    peer.write(randomBytes(1 + (i % 64) * 7));
    await tick();
    peer.destroy();
  }
  t.pass();
});

test('mutated transcripts (byte flips, truncation): no exception escapes', async (t) => {
  const base = transcript();
  let closedWithLog = 0;
  for (let i = 0; i < 400; i++) {
    const buf = Buffer.from(base);
    for (let k = 0; k < 1 + (i % 5); k++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256);
    const { session, peer, logs } = serverSession();
    peer.write(i % 7 === 0 ? buf.subarray(0, Math.floor(Math.random() * buf.length)) : buf);
    await tick();
    if (session.closed && logs.some((l) => l.includes('protocol error'))) closedWithLog++;
    peer.destroy();
  }
  t.true(closedWithLog > 0, 'some mutations are protocol errors, closed with a log line');
});

test('the intact transcript is served: replies, PING echo, window updates are fine', async (t) => {
  const { session, peer, logs, received } = serverSession();
  peer.write(transcript());
  await tick();
  await tick();
  t.deepEqual(logs, []);
  t.true(session.peerGoneAway);
  const frames = new FrameParser().push(Buffer.concat(received));
  t.deepEqual(
    frames.filter((f) => f.kind === 'syn_reply').map((f) => (f as { streamId: number }).streamId),
    [1, 3, 5],
  );
  t.true(frames.some((f) => f.kind === 'ping' && f.id === 1));
  peer.destroy();
});

test('protocol violations that are per stream get RST_STREAM, the session lives on', async (t) => {
  const { session, peer, logs, received } = serverSession();
  const c = new HeaderCompressor();
  peer.write(
    Buffer.concat([
      encode.synStream(2, c.compress(encodeHeaderBlock({ streamtype: ['error'] }))), // even id: the server's own
      encode.synStream(3, c.compress(encodeHeaderBlock({ streamtype: ['error'] }))),
      encode.synStream(3, c.compress(encodeHeaderBlock({ streamtype: ['stdin'] }))), // id reused
      encode.data(99, Buffer.from('nobody'), false), // unknown stream: dropped
      encode.rstStream(77, RstStatus.CANCEL), // unknown stream: ignored
    ]),
  );
  await tick();
  t.false(session.closed);
  t.deepEqual(logs, []);
  const frames = new FrameParser().push(Buffer.concat(received));
  t.deepEqual(
    frames.filter((f) => f.kind === 'rst_stream').map((f) => [(f as { streamId: number }).streamId, (f as { status: number }).status]),
    [[2, RstStatus.PROTOCOL_ERROR], [3, RstStatus.PROTOCOL_ERROR]],
  );
  t.deepEqual(
    frames.filter((f) => f.kind === 'syn_reply').map((f) => (f as { streamId: number }).streamId),
    [3],
  );
  peer.destroy();
});
