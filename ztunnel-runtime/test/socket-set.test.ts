// Open-socket sets (what drain and shutdown close): a socket is in each set it was added to until it closes.
import test from 'ava';
import * as net from 'node:net';
import { holdUntilClose } from '../src/proxy/socket-set.js';

test('a socket leaves every set it was held in when it closes, and not before', async (t) => {
  const srv = net.createServer((s) => s.end());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = new Set<net.Socket>();
  const b = new Set<net.Socket>();
  const s = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  holdUntilClose(a, s);
  holdUntilClose(b, s);
  t.true(a.has(s) && b.has(s));
  await new Promise((r) => s.once('close', r));
  t.false(a.has(s));
  t.false(b.has(s));
  srv.close();
});
