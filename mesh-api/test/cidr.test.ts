import test from 'ava';
import { CidrSet, cidrContains, isValidCidr, normalizeIp, parseCidr } from '../src/index.js';

test('IPv4 blocks, host bits ignored, bare addresses as /32', (t) => {
  t.true(cidrContains('10.244.1.0/24', '10.244.1.66'));
  t.false(cidrContains('10.244.1.0/24', '10.244.2.1'));
  t.true(cidrContains('10.244.1.7/24', '10.244.1.200'), 'host bits in the block do not matter');
  t.true(cidrContains('10.244.1.66', '10.244.1.66'));
  t.false(cidrContains('10.244.1.66', '10.244.1.67'));
  t.true(cidrContains('0.0.0.0/0', '203.0.113.9'));
  t.true(cidrContains('10.0.0.0/8', '10.255.255.255'));
  t.false(cidrContains('10.0.0.0/8', '11.0.0.0'));
});

test('IPv6 blocks, in any spelling', (t) => {
  t.true(cidrContains('fd00::/8', 'fd12:3456::1'));
  t.false(cidrContains('fd00::/8', 'fe80::1'));
  t.true(cidrContains('2001:db8::/32', '2001:0db8:0000:0000:0000:0000:0000:0001'));
  t.true(cidrContains('2001:DB8::1', '2001:db8::1'));
  t.true(cidrContains('::1', '::1'));
  t.true(cidrContains('::/0', 'fe80::1'));
  t.true(cidrContains('fe80::/10', 'fe80::1%eth0'), 'a zone does not change the address');
});

test('families are strict, except that IPv4-mapped IPv6 is IPv4', (t) => {
  t.false(cidrContains('::/0', '10.0.0.1'), 'an IPv6 block holds no IPv4 address');
  t.false(cidrContains('0.0.0.0/0', 'fe80::1'));
  t.true(cidrContains('10.0.0.0/8', '::ffff:10.1.2.3'));
  t.true(cidrContains('10.0.0.0/8', '::FFFF:10.1.2.3'));
  t.true(cidrContains('10.0.0.0/8', '::ffff:a01:203'), 'hex spelling of ::ffff:10.1.2.3');
  t.true(cidrContains('10.0.0.0/8', '0:0:0:0:0:ffff:10.1.2.3'));
  t.false(cidrContains('10.0.0.0/8', '::ffff:11.1.2.3'));
  t.true(cidrContains('::ffff:10.1.2.3', '10.1.2.3'), 'a mapped single address is that IPv4 address');
  t.true(cidrContains('::ffff:10.0.0.0/104', '10.200.0.1'), 'a mapped /104 is an IPv4 /8');
  t.false(cidrContains('::ffff:10.0.0.0/104', '11.0.0.1'));
  t.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.deepEqual(parseCidr('::ffff:10.0.0.0/64'), { address: '::ffff:10.0.0.0', prefix: 64, family: 'ipv6' });
  t.false(cidrContains('::ffff:10.0.0.0/64', '10.0.0.1'), 'a mapped block shorter than /96 is an IPv6 block');
  t.deepEqual(normalizeIp('::ffff:192.168.0.1'), { address: '192.168.0.1', family: 'ipv4' });
  t.deepEqual(normalizeIp('::1'), { address: '::1', family: 'ipv6' });
  t.is(normalizeIp('nope'), undefined);
});

test('invalid blocks and addresses never match; CidrSet refuses invalid blocks by name', (t) => {
  for (const bad of ['', 'nope', '10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/8.5', '10.0.0.0/abc', '10.0.0/8', '10.0.0.01/8', '1.2.3.4 ', '/8']) {
    t.false(isValidCidr(bad), bad);
    t.false(cidrContains(bad, '10.0.0.1'), bad);
    t.throws(() => new CidrSet([bad]), { message: `invalid IP block ${JSON.stringify(bad)}` }, bad);
  }
  for (const bad of ['', 'nope', '10.0.0', '10.0.0.256', '10.0.0.1/32', 'fe80::1::2']) t.false(cidrContains('0.0.0.0/0', bad), bad);
  t.false(new CidrSet(['0.0.0.0/0']).has(undefined));
  t.false(new CidrSet(['0.0.0.0/0']).has(''));
});

test('CidrSet: any of several blocks, both families at once', (t) => {
  const s = new CidrSet(['10.244.0.0/16', '192.168.1.7', 'fd00::/8']);
  t.true(s.has('10.244.9.9'));
  t.true(s.has('192.168.1.7'));
  t.false(s.has('192.168.1.8'));
  t.true(s.has('fd00::42'));
  t.true(s.has('::ffff:10.244.0.1'));
  t.false(s.has('2001:db8::1'));
  t.false(new CidrSet([]).has('10.0.0.1'));
});

test('a malformed prefix is refused, never read as a wider block: `10.0.0.0/` is not a /0 that matches everything', (t) => {
  for (const bad of ['10.0.0.0/', '10.0.0.0/ 8', '10.0.0.0/0x8', '10.0.0.0/8/16', '10.0.0.0/8 ', '10.0.0.0/+8', '10.0.0.0/08', 'fd00::/', 'fd00::/1e1']) {
    t.is(parseCidr(bad), undefined, bad);
    t.false(cidrContains(bad, '192.0.2.1'), bad);
    t.throws(() => new CidrSet([bad]), { message: `invalid IP block ${JSON.stringify(bad)}` });
  }
  t.deepEqual(parseCidr('10.0.0.0/0'), { address: '10.0.0.0', prefix: 0, family: 'ipv4' });
});
