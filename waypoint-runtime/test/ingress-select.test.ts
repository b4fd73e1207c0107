// Listener and certificate choice on an ingress port: the most specific hostname wins (exact, then the longest
// wildcard, then a listener without hostnames), a wildcard never matches its own suffix, and the server name of
// a ClientHello is read from the bytes a real TLS client sends.
import test from 'ava';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hostnameMatches, hostOnly, pickListener, readClientHello } from '../src/index.js';

test('the most specific listener hostname wins; none matching -> no listener', (t) => {
  const ls: Array<{ name: string; hostnames?: string[] }> = [
    { name: 'any-b', hostnames: ['*.b.example.com'] },
    { name: 'wild', hostnames: ['*.example.com'] },
    { name: 'exact', hostnames: ['a.example.com'] },
  ];
  t.is(pickListener(ls, 'a.example.com')?.name, 'exact');
  t.is(pickListener(ls, 'x.b.example.com')?.name, 'any-b');
  t.is(pickListener(ls, 'c.example.com')?.name, 'wild');
  t.is(pickListener(ls, 'example.com'), undefined);
  t.is(pickListener([...ls, { name: 'catch-all' }], 'example.org')?.name, 'catch-all');
  t.is(pickListener([{ name: 'catch-all' }, ...ls], 'A.EXAMPLE.COM')?.name, 'exact');
  t.false(hostnameMatches('*.example.com', 'example.com'));
  t.true(hostnameMatches('*.example.com', 'deep.sub.example.com'));
  t.is(hostOnly('bookinfo.example.com:8080'), 'bookinfo.example.com');
  t.is(hostOnly('[::1]:80'), '[::1]');
});

test('the SNI of a real ClientHello is read and every byte kept', async (t) => {
  const got = new Promise<{ head: Buffer; sni: string } | undefined>((resolve) => {
    const server = createServer((s) => {
      void readClientHello(s, 2000).then((r) => {
        resolve(r);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: 'Secure.Example.com', rejectUnauthorized: false });
      c.on('error', () => undefined);
    });
  });
  const r = await got;
  t.is(r?.sni, 'secure.example.com');
  t.is(r?.head[0], 0x16);
  t.is(r!.head.length, 5 + r!.head.readUInt16BE(3));
});
