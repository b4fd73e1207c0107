// The ambit CLI: argument errors (no cluster needed), generated YAML, output layout.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { imageTag, runCli } from '../src/cli/run.js';
import { parseDuration, tabwrite } from '../src/cli/format.js';
import { KubeClient } from '../src/kube/client.js';
import { FakeApiServer } from './fake-apiserver.js';

const testdata = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'testdata');

async function cli(args: string[], env: NodeJS.ProcessEnv = { HOME: '/nonexistent' }, client?: KubeClient) {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s), env, client });
  return { code, out, err };
}

test('invalid --for is rejected with Istio\'s message', async (t) => {
  const r = await cli(['waypoint', 'apply', '--for', 'foo']);
  t.is(r.code, 1);
  t.is(r.err, 'Error: invalid traffic type: foo. Valid options are: [all none service workload]\n');
  t.is(r.out, '');
});

test('delete needs names xor --all', async (t) => {
  let r = await cli(['waypoint', 'delete']);
  t.is(r.code, 1);
  t.is(r.err, 'Error: must specify a waypoint name or delete all using --all or delete specific revision using --revision\n');
  r = await cli(['waypoint', 'delete', 'a', '--all']);
  t.is(r.err, 'Error: cannot specify waypoint names when deleting all waypoints\n');
});

test('a bad --waypoint-timeout is a usage error', async (t) => {
  const r = await cli(['waypoint', 'apply', '--waypoint-timeout', 'soon']);
  t.is(r.code, 1);
  t.regex(r.err, /invalid duration "soon"/);
});

test('unknown flags and commands fail with one clear line', async (t) => {
  let r = await cli(['waypoint', 'apply', '--bogus']);
  t.is(r.code, 1);
  t.regex(r.err, /unknown option '--bogus'/);
  r = await cli(['wayponit']);
  t.is(r.code, 1);
  t.regex(r.err, /unknown command 'wayponit'/);
});

test('no cluster configured: clear error, non-zero exit', async (t) => {
  const r = await cli(['waypoint', 'list'], { HOME: '/nonexistent' });
  t.is(r.code, 1);
  t.is(r.err, 'Error: no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config\n');
});

test('unreachable cluster: clear error, non-zero exit', async (t) => {
  const client = new KubeClient({ server: 'https://127.0.0.1:1', namespace: 'default', source: 'test', insecureSkipTLSVerify: true });
  const r = await cli(['waypoint', 'apply', '-n', 'default'], {}, client);
  t.is(r.code, 1);
  t.regex(r.err, /^Error: cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1: ECONNREFUSED/);
  t.is(r.err.split('\n').length, 2);
});

test('--kubeconfig naming a missing file', async (t) => {
  const r = await cli(['--kubeconfig', '/nonexistent/kc', 'waypoint', 'list']);
  t.is(r.err, 'Error: kubeconfig file /nonexistent/kc does not exist\n');
});

test('generate prints today\'s waypoint Gateway', async (t) => {
  const r = await cli(['waypoint', 'generate', '-n', 'default', '--for', 'service']);
  t.is(r.code, 0);
  t.deepEqual(parse(r.out), {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'default', labels: { 'istio.io/waypoint-for': 'service' } },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
});

test('generate --service-account is the 2024 form in the golden testdata', async (t) => {
  const r = await cli(['waypoint', 'generate', '--service-account', 'bookinfo-productpage', '-n', 'default']);
  const want = parse(readFileSync(join(testdata, 'sa-waypoint-2024.yaml'), 'utf8').split('\n---\n')[0]);
  delete want.metadata.uid;
  delete want.metadata.generation;
  t.deepEqual(parse(r.out), want);
});

test('--name none is reserved', async (t) => {
  const r = await cli(['waypoint', 'generate', '--name', 'none']);
  t.is(r.code, 1);
  t.regex(r.err, /'none' is a reserved value/);
});

test('version and help exit 0', async (t) => {
  const v = await cli(['version']);
  t.is(v.code, 0);
  t.is(v.out, 'client version: 0.1.0\n');
  const h = await cli(['waypoint', 'apply', '--help']);
  t.is(h.code, 0);
  for (const flag of ['--service-account', '--name', '--for', '--enroll-namespace', '--overwrite', '--wait', '--waypoint-timeout', '--revision']) t.true(h.out.includes(flag), flag);
  const top = await cli(['--help']);
  for (const flag of ['--kubeconfig', '--namespace']) t.true(top.out.includes(flag), flag);
});

test('tabwrite lays out like Go tabwriter(0, 8, 5, \' \')', (t) => {
  t.is(
    tabwrite([
      ['NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'],
      ['waypoint', 'default', 'service', 'True'],
    ]),
    'NAME         REVISION     TRAFFIC TYPE     PROGRAMMED\nwaypoint     default      service          True\n',
  );
});

test('Go durations', (t) => {
  t.is(parseDuration('90s'), 90_000);
  t.is(parseDuration('1m30s'), 90_000);
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('2h'), 7_200_000);
  t.is(parseDuration('5'), 5000);
  t.throws(() => parseDuration('1x'));
});

test('install --help documents the image and CNI values', async (t) => {
  const h = await cli(['install', '--help']);
  t.is(h.code, 0);
  for (const s of ['--hub <registry>', '--tag <tag>', '--set <key=value>', 'hub, tag', 'values.cni.cniBinDir', 'values.cni.cniConfDir', '<hub>/controller:<tag>']) t.true(h.out.includes(s), s);
});

test('install with a bad value: one line naming the flag, exit 2, the cluster never contacted', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  t.teardown(() => api.stop());
  for (const [args, line] of [
    [['--hub', 'my registry'], 'Error: --hub my registry: "my registry" is not an image registry prefix: use something like registry.example.com:5000/ambit (no spaces, no tag, lower-case path)\n'],
    [['--set', 'values.cni.cniBinDir=opt/cni/bin'], 'Error: --set values.cni.cniBinDir=opt/cni/bin: "opt/cni/bin" must be an absolute directory on the nodes, e.g. /var/lib/rancher/k3s/data/current/bin\n'],
    [['--set', 'profile=ambient'], 'Error: --set profile=ambient: unknown key "profile"; ambit install accepts hub, values.global.hub, tag, values.global.tag, values.cni.cniBinDir, values.cni.cniConfDir, components.ingressGateways[0].enabled, components.ingressGateways[0].name\n'],
    [['--set', 'components.ingressGateways[0].enabled=maybe'], 'Error: --set components.ingressGateways[0].enabled=maybe: "maybe" is not a boolean: use true or false\n'],
  ] as const) {
    const r = await cli(['install', ...args], {}, client);
    t.is(r.code, 2, args.join(' '));
    t.is(r.err, line);
    t.is(r.out, '');
  }
  t.deepEqual(api.requests, []);
});

test('install with good values goes on to the cluster checks', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  t.teardown(() => api.stop());
  const r = await cli(['install', '--hub', 'registry.example.com/ambit', '--set', 'tag=0.1.0', '-s', 'values.cni.cniConfDir=/etc/cni/net.d'], {}, client);
  t.is(r.code, 1);
  t.regex(r.err, /^Error: missing Kubernetes Gateway API CRDs/);
  t.true(api.requests.length > 0);
});

test('version --remote reads the tag of the controller image, wherever it was pulled from', (t) => {
  t.is(imageTag('ambit/controller:0.1.0'), '0.1.0');
  t.is(imageTag('localhost:5001/controller:1.2.3'), '1.2.3');
  t.is(imageTag('registry.example.com:5000/team/controller'), undefined);
  t.is(imageTag('ambit/controller:0.1.0@sha256:abc'), '0.1.0');
});
