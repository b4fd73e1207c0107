// An upstream that answers before it has read the request body: the waypoint streams both ways and keeps the
// client's connection (no `connection: close` added on the way, as a proxy that wants the body consumed first would).
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { Client } from 'undici';
import { service, startWaypoint, workload } from './helpers.js';

test('a response sent before the request body ends streams back on a connection that stays open', async (t) => {
  const upstream = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('early;');
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`got ${n}`));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as AddressInfo).port;
  const h = await startWaypoint({
    services: [service('early', '10.96.0.50', { 80: 0 })],
    workloads: [workload('early', '127.0.0.1', 'early', { 'default/early.default.svc.cluster.local': { 80: port } })],
  });
  const client = new Client(h.url);
  try {
    const body = new PassThrough();
    body.write('a'.repeat(1000));
    const res = await client.request({ path: '/up', method: 'POST', headers: { host: 'early' }, body });
    t.is(res.statusCode, 200);
    // The headers arrived while the body is still open: the waypoint did not ask the client to close.
    t.not(res.headers.connection, 'close');
    body.end('b'.repeat(500));
    t.is(await res.body.text(), 'early;got 1500');
    const again = await client.request({ path: '/again', method: 'GET', headers: { host: 'early' } });
    t.is(again.statusCode, 200);
    await again.body.dump();
  } finally {
    await client.close();
    await h.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});
