// The shared-mode start-up dump is YAML written without the parser; the real parser must read back what was meant.
import test from 'ava';
import { parse } from 'yaml';
import { flatYaml, parseYaml } from '../src/config/yaml.js';
import { describeConfig, parseSharedConfig } from '../src/node/config.js';

test('the shared-mode "running with config" dump reads back as the configuration it describes', (t) => {
  const c = parseSharedConfig({ NODE_NAME: 'node-1', ZDS_SOCKET: '/var/run/ztunnel/ztunnel.sock', ADMIN_ADDR: '[::1]:15000', STATS_ADDR: 'off' });
  const text = describeConfig(c);
  t.regex(text, /^proxyMode: Shared$/m);
  const back = parse(text) as Record<string, unknown>;
  t.is(back.nodeName, 'node-1');
  t.is(back.inpodUds, '/var/run/ztunnel/ztunnel.sock');
  t.is(back.adminAddr, '[::1]:15000');
  t.is(back.caAddress, c.caAddress);
  t.is(back.hbonePort, 15008);
  t.is(back.inpodEnabled, true);
  t.false('statsAddr' in back, 'an address turned off is left out');
});

test('strings YAML would read as something else are quoted', (t) => {
  const fields = { a: 'true', b: '8080', c: 'x: y', d: '', e: '#note', f: 'off', g: '0.0.0.0:15000', h: 'https://istiod.istio-system.svc:15012', i: 'q"uote', j: 7, k: false };
  t.deepEqual(parse(flatYaml(fields)), fields);
  t.is(flatYaml({ g: '0.0.0.0:15000', u: undefined }), 'g: 0.0.0.0:15000');
});

test('YAML files still parse (loaded on first use); JSON ones too, and flow-style YAML that is not JSON', (t) => {
  t.deepEqual(parseYaml('mode: explicit\nhbonePort: 15008\n'), { mode: 'explicit', hbonePort: 15008 });
  t.deepEqual(parseYaml(' {"mode": "explicit", "explicit": {"workloads": []}}'), { mode: 'explicit', explicit: { workloads: [] } });
  t.deepEqual(parseYaml('{mode: explicit, hbonePort: 15008}'), { mode: 'explicit', hbonePort: 15008 });
});
