// Listener and certificate choice on an ingress port: the most specific hostname wins (exact, then the longest
// wildcard, then a listener without hostnames), a wildcard never matches its own suffix, and the server name of
// a ClientHello is read from the bytes a real TLS client sends.
import test from 'ava';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hostnameMatches, hostOnly, pickListener, pickRequestListener, readClientHello } from '../src/index.js';

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

test('a Host that selects another listener than the SNI did is misdirected; a Host no listener serves is not', (t) => {
  // The listeners of the conformance Gateway same-namespace-with-https-listener (all on port 443).
  const ls: Array<{ name: string; hostnames?: string[] }> = [
    { name: 'https' },
    { name: 'https-with-hostname', hostnames: ['second-example.org'] },
    { name: 'https-with-wildcard-hostname', hostnames: ['*.wildcard.org'] },
    { name: 'https-with-hostname-matching-wildcard', hostnames: ['fourth-example.wildcard.org'] },
  ];
  const got = (sni: string | undefined, host: string) => {
    const r = pickRequestListener(ls, host, sni);
    return !r ? 'none' : 'misdirected' in r ? '421' : r.listener.name;
  };
  t.is(got('example.org', 'example.org'), 'https');
  t.is(got('example.org', 'second-example.org'), '421');
  t.is(got('example.org', 'unknown-example.org'), 'https');
  t.is(got('second-example.org', 'second-example.org'), 'https-with-hostname');
  t.is(got('second-example.org', 'example.org'), '421');
  t.is(got('second-example.org', 'unknown-example.org'), '421');
  t.is(got('third-example.wildcard.org', 'fith-example.wildcard.org'), 'https-with-wildcard-hostname');
  t.is(got('third-example.wildcard.org', 'fourth-example.wildcard.org'), '421');
  t.is(got('fourth-example.wildcard.org', 'fourth-example.wildcard.org'), 'https-with-hostname-matching-wildcard');
  t.is(got('fourth-example.wildcard.org', 'fith-example.wildcard.org'), '421');
  t.is(got('unknown-example.org', 'example.org'), 'https');
  // Without SNI the Host alone chooses.
  t.is(got(undefined, 'second-example.org'), 'https-with-hostname');
  // Without a catch-all listener: a Host nobody serves gets no listener (404), not 421; an SNI nobody serves
  // (the default certificate answered it) leaves the choice to the Host.
  const named = ls.slice(1);
  t.is(pickRequestListener(named, 'unknown-example.org', 'second-example.org'), undefined);
  const r = pickRequestListener(named, 'second-example.org', 'nobody.example.net');
  t.is(r && 'listener' in r ? r.listener.name : undefined, 'https-with-hostname');
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
