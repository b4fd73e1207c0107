import test from 'ava';
import { cidrContains, intToIp, ipToInt, IpAllocator, parseCidr } from '../src/node/ipam.js';

test('addresses and CIDRs', (t) => {
  t.is(intToIp(ipToInt('10.244.3.7')), '10.244.3.7');
  t.deepEqual(parseCidr('10.244.3.9/24'), { base: ipToInt('10.244.3.0'), prefix: 24, size: 256 });
  t.true(cidrContains('10.244.0.0/16', '10.244.200.1'));
  t.false(cidrContains('10.244.1.0/24', '10.244.2.1'));
  t.throws(() => ipToInt('10.300.0.1'));
});

test('allocation starts at .2 and skips the bridge gateway', (t) => {
  const a = new IpAllocator('10.244.0.0/24', ['10.244.0.1']);
  t.is(a.allocate('p1'), '10.244.0.2');
  t.is(a.allocate('p2'), '10.244.0.3');
  t.is(a.allocate('p1'), '10.244.0.2', 'idempotent per owner');
  const b = new IpAllocator('10.244.5.0/24', ['10.244.0.1']);
  t.is(b.allocate('x'), '10.244.5.2');
});

test('released addresses are reused last (round robin)', (t) => {
  const a = new IpAllocator('10.244.1.0/24');
  const first = a.allocate('a');
  a.allocate('b');
  a.release(first);
  t.is(a.allocate('c'), '10.244.1.4');
  t.deepEqual(a.inUse(), ['10.244.1.3', '10.244.1.4']);
});

test('a full range is reported, never the network or broadcast address', (t) => {
  const a = new IpAllocator('10.244.1.0/29');
  const got = ['a', 'b', 'c', 'd', 'e'].map((o) => a.allocate(o));
  t.deepEqual(got, ['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5', '10.244.1.6']);
  t.throws(() => a.allocate('f'), { message: /exhausted/ });
});
