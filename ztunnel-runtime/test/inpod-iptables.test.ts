import test from 'ava';
import { renderRules } from '../src/inpod/index.js';
import { buildApplyInput, buildRemoveInput, parseSave } from '../src/inpod/iptables.js';

// Istio's golden (reference 6.2, HEAD REDIRECT variant) without DNS, in iptables-save spelling.
const GOLDEN_NO_DNS = {
  mangle: [
    '-A PREROUTING -j ISTIO_PRERT',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff',
    '-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff',
  ],
  nat: [
    '-A PREROUTING -j ISTIO_PRERT',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_PRERT -s 169.254.7.127/32 -p tcp -m tcp -j ACCEPT',
    '-A ISTIO_OUTPUT -d 169.254.7.127/32 -p tcp -m tcp -j ACCEPT',
    '-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006',
    '-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT',
    '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT',
    '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001',
  ],
};

test('default rules are Istio’s in-pod golden without DNS capture', (t) => {
  t.deepEqual(renderRules(), GOLDEN_NO_DNS);
});

test('DNS capture adds the 15053 redirects before the mark accept, and the raw-table conntrack zone', (t) => {
  const r = renderRules({ redirectDns: true });
  const i = r.nat!.findIndex((l) => l.includes('--to-ports 15053'));
  t.is(r.nat![i], '-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark 0x539/0xfff -m udp --dport 53 -j REDIRECT --to-ports 15053');
  t.is(r.nat![i + 1], '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m tcp --dport 53 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15053');
  t.is(r.nat![i + 2], '-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT');
  t.deepEqual(r.raw, [
    '-A PREROUTING -j ISTIO_PRERT',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -p udp -m mark --mark 0x539/0xfff -m udp --dport 53 -j CT --zone 1',
    '-A ISTIO_PRERT -p udp -m mark ! --mark 0x539/0xfff -m udp --sport 53 -j CT --zone 1',
  ]);
});

test('ports and mark are configurable', (t) => {
  const nat = renderRules({ mark: 0x600, outboundPort: 25001, inboundPlaintextPort: 25006, hbonePort: 25008 }).nat!;
  t.true(nat.includes('-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x600/0xfff -j REDIRECT --to-ports 25001'));
  t.true(nat.some((l) => l.includes('! --dport 25008') && l.endsWith('--to-ports 25006')));
});

const EMPTY_SAVE = `*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n`;

function saveOf(tables: Partial<Record<'mangle' | 'nat' | 'raw', string[]>>, extra = ''): string {
  return Object.entries(tables)
    .map(([t, rules]) => `*${t}\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ISTIO_OUTPUT - [0:0]\n:ISTIO_PRERT - [0:0]\n${extra}${rules.join('\n')}\nCOMMIT\n`)
    .join('');
}

test('apply on a clean netns declares the chains, adds the jumps once, then the rules', (t) => {
  const input = buildApplyInput(parseSave(EMPTY_SAVE));
  const nat = input.slice(input.indexOf('*nat'), input.indexOf('COMMIT', input.indexOf('*nat')));
  t.regex(nat, /^\*nat\n:ISTIO_PRERT - \[0:0\]\n:ISTIO_OUTPUT - \[0:0\]\n-A PREROUTING -j ISTIO_PRERT\n-A OUTPUT -j ISTIO_OUTPUT\n/);
  t.false(input.includes('*raw'), 'raw untouched when DNS capture is off');
});

test('re-apply over installed rules only re-declares (flushes) the chains: no duplicate jumps', (t) => {
  const installed = parseSave(saveOf(renderRules()));
  const input = buildApplyInput(installed);
  t.false(input.includes('-A PREROUTING'));
  t.false(input.includes('-A OUTPUT'));
  t.is(input.match(/-A ISTIO_OUTPUT ! -d 127.0.0.1\/32 -p tcp -m mark ! --mark 0x539\/0xfff -j REDIRECT --to-ports 15001/g)?.length, 1);
});

test('duplicate jumps (left by someone else) are reduced to one; other rules are left alone', (t) => {
  const nat = ['-A PREROUTING -j ISTIO_PRERT', '-A PREROUTING -j ISTIO_PRERT', '-A OUTPUT -j ISTIO_OUTPUT', '-A OUTPUT -p udp -j ACCEPT'];
  const st = parseSave(saveOf({ nat }));
  t.deepEqual(st.nat.rules, nat.slice(0, 3), 'foreign rules are not ours');
  const input = buildApplyInput(st);
  t.is(input.match(/-D PREROUTING -j ISTIO_PRERT/g)?.length, 1);
  t.false(input.includes('OUTPUT -p udp'));
});

test('turning DNS capture off removes our raw-table chains', (t) => {
  const st = parseSave(saveOf(renderRules({ redirectDns: true })));
  const input = buildApplyInput(st);
  const raw = input.slice(input.indexOf('*raw'));
  t.regex(raw, /-D PREROUTING -j ISTIO_PRERT\n-D OUTPUT -j ISTIO_OUTPUT\n-X ISTIO_OUTPUT\n-X ISTIO_PRERT\nCOMMIT/);
});

test('remove: jumps deleted, chains flushed and deleted; nothing installed means no restore at all', (t) => {
  const input = buildRemoveInput(parseSave(saveOf(renderRules())));
  for (const table of ['mangle', 'nat']) t.true(input.includes(`*${table}\n:ISTIO_OUTPUT - [0:0]\n:ISTIO_PRERT - [0:0]\n-D PREROUTING -j ISTIO_PRERT\n-D OUTPUT -j ISTIO_OUTPUT\n-X ISTIO_OUTPUT\n-X ISTIO_PRERT\nCOMMIT`));
  t.is(buildRemoveInput(parseSave(EMPTY_SAVE)), '');
});
