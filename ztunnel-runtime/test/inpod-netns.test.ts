// The parts of the netns helpers that need neither root nor a namespace.
import test from 'ava';
import { type Netns, createPodSocketFactory, unmapV4 } from '../src/inpod/index.js';
import { parseSockaddrIn, sockaddrIn } from '../src/inpod/libc.js';

test('sockaddr_in round trip (network byte order port and address)', (t) => {
  const b = sockaddrIn('10.248.7.3', 9080);
  t.is(b.length, 16);
  t.deepEqual([...b.subarray(0, 8)], [2, 0, 0x23, 0x78, 10, 248, 7, 3]);
  t.deepEqual(parseSockaddrIn(b), { address: '10.248.7.3', port: 9080 });
  t.throws(() => sockaddrIn('fe80::1', 1), { instanceOf: TypeError });
  t.throws(() => sockaddrIn('10.0.0.256', 1), { instanceOf: TypeError });
});

test('IPv4-mapped peer addresses are unmapped', (t) => {
  t.is(unmapV4('::ffff:10.244.1.5'), '10.244.1.5');
  t.is(unmapV4('10.244.1.5'), '10.244.1.5');
  t.is(unmapV4('fe80::1'), 'fe80::1');
});

test('the pod socket factory reports a gone pod as a socket error, never a throw', async (t) => {
  const gone = {
    path: '/var/run/netns/cni-gone',
    get fd(): number {
      throw new Error('netns /var/run/netns/cni-gone is closed');
    },
  } as unknown as Netns;
  const socket = createPodSocketFactory(gone)('10.244.1.5', 15008);
  const err = await new Promise<Error>((r) => socket.once('error', r));
  t.regex(err.message, /closed/);
  t.true(socket.destroyed);
});
