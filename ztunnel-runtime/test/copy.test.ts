// The byte copy between a client and its upstream (copy.ts), over real loopback sockets: half-close each way,
// every byte in order under backpressure, and a failed upstream resetting the client.
import test from 'ava';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { splice } from '../src/index.js';

/** A proxy on loopback that copies each accepted client to `upstreamPort`; `resetA` as the outbound path uses it. */
async function proxy(upstreamPort: number, resetA = false): Promise<{ port: number; results: Promise<{ error?: Error }>[]; close(): void }> {
  const results: Promise<{ error?: Error }>[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (down) => {
    const up = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
    results.push(new Promise((copyDone) => splice(down, up, { copyDone }, { resetA })));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, results, close: () => srv.close() };
}

async function server(onConn: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const srv = net.createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

const readAll = (s: net.Socket) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });

test('half-close: the client ends its side, the server still answers, then both close', async (t) => {
  // A server that reads everything, then answers with what it read, reversed, and ends.
  const up = await server((s) => void readAll(s).then((b) => s.end(Buffer.from(b).reverse())));
  const p = await proxy(up.port);
  const c = net.connect({ host: '127.0.0.1', port: p.port, allowHalfOpen: true });
  const reply = readAll(c);
  c.end('hello');
  t.is((await reply).toString(), 'olleh');
  t.deepEqual(await p.results[0], { error: undefined });
  up.close();
  p.close();
});

test('server-first half-close: the server ends, the client still sends and is heard', async (t) => {
  let heard: Promise<Buffer> | undefined;
  const up = await server((s) => {
    heard = readAll(s);
    s.end('banner');
  });
  const p = await proxy(up.port);
  const c = net.connect({ host: '127.0.0.1', port: p.port, allowHalfOpen: true });
  t.is((await readAll(c)).toString(), 'banner');
  c.end('late words');
  t.is((await heard!).toString(), 'late words');
  await p.results[0];
  up.close();
  p.close();
});

test('32 MiB each way arrive whole and in order (backpressure both ways)', async (t) => {
  const size = 32 * 1024 * 1024;
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) data.writeUInt32LE(i, i);
  const digest = createHash('sha256').update(data).digest('hex');
  // Echo, with a slow reader: pauses now and then so the proxy must hold back.
  const up = await server((s) => {
    s.on('data', (d: Buffer) => {
      if (!s.write(d)) {
        s.pause();
        s.once('drain', () => s.resume());
      }
    });
    s.on('end', () => s.end());
  });
  const p = await proxy(up.port);
  const c = net.connect({ host: '127.0.0.1', port: p.port, allowHalfOpen: true });
  const back = readAll(c);
  c.end(data);
  const got = await back;
  t.is(got.length, size);
  t.is(createHash('sha256').update(got).digest('hex'), digest);
  up.close();
  p.close();
});

test('an upstream that resets: with resetA the client sees ECONNRESET, the copy reports the error', async (t) => {
  const up = await server((s) => s.once('data', () => s.resetAndDestroy()));
  const p = await proxy(up.port, true);
  const c = net.connect({ host: '127.0.0.1', port: p.port });
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    c.on('error', resolve);
    c.on('connect', () => c.write('x'));
  });
  t.is(err.code, 'ECONNRESET');
  const res = await p.results[0]!;
  t.is((res.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
  up.close();
  p.close();
});
