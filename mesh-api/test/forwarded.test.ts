// The HBONE CONNECT's Forwarded header: what the source ztunnel writes is what the destination and the waypoint read.
import test from 'ava';
import { formatForwarded, forwardedFor, forwardedParam } from '../src/index.js';

test('the source writes for= (quoted, IPv6 bracketed) and host= when it named a Service', (t) => {
  t.is(formatForwarded({ ip: '10.244.0.9', port: 51000 }, 'api.shop.svc.cluster.local'), 'for="10.244.0.9:51000";host=api.shop.svc.cluster.local');
  t.is(formatForwarded({ ip: 'fd00::9', port: 443 }), 'for="[fd00::9]:443"');
});

test('what the source writes reads back', (t) => {
  const h = formatForwarded({ ip: 'fd00::9', port: 443 }, 'a.b');
  t.deepEqual(forwardedFor(h), { address: 'fd00::9', port: 443 });
  t.is(forwardedParam(h, 'host'), 'a.b');
});

test('a parameter is read from the first element only, by exact name, quoted or not', (t) => {
  t.is(forwardedParam('for="10.0.0.1:5000";host=api.shop.svc.cluster.local', 'host'), 'api.shop.svc.cluster.local');
  t.is(forwardedParam('host="a.b";for=x, host=c.d', 'host'), 'a.b');
  t.is(forwardedParam(['for=x;HOST=e.f', 'host=g.h'], 'host'), 'e.f', 'the first header line');
  t.is(forwardedParam('for=x, host=c.d', 'host'), undefined, 'a later hop\'s element does not count');
  t.is(forwardedParam('xhost=a.b', 'host'), undefined, 'a longer name is another parameter');
  for (const bad of [undefined, '', 'for=x', 'host=', 'host=""', ';;=;']) t.is(forwardedParam(bad, 'host'), undefined, String(bad));
});

test('for= gives an IP address and an optional port, or nothing', (t) => {
  t.deepEqual(forwardedFor('for="10.0.0.1:4000"'), { address: '10.0.0.1', port: 4000 });
  t.deepEqual(forwardedFor('for=10.0.0.1'), { address: '10.0.0.1' });
  t.deepEqual(forwardedFor('FOR="[::1]:4000";host=x'), { address: '::1', port: 4000 });
  t.deepEqual(forwardedFor('for="[::1]"'), { address: '::1' });
  t.deepEqual(forwardedFor('for=10.0.0.1:4000, for=10.0.0.2'), { address: '10.0.0.1', port: 4000 });
  for (const bad of ['xfor="10.0.0.1:4000"', 'for=_hidden', 'for=unknown', 'for=garbage', 'for=10.0.0.1:0', 'for=10.0.0.1:70000',
    'for=10.0.0.1:http', 'for="[::1"', 'for="[10.0.0.1]:80"', 'for="[::1]x"', 'for=999.1.1.1', 'host=a.b', 'for=_hidden, for=10.0.0.1']) {
    t.is(forwardedFor(bad), undefined, bad);
  }
});
