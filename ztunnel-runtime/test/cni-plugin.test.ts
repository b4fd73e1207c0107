// The ambit-cni plugin run as the runtime runs it: the compiled script as a child process with CNI env vars and the
// network config on stdin. A fake node agent on a temp Unix socket; a fake API server (HTTPS on loopback) for the
// "agent down" cases. Also: the installed copy (wrapper + copied files, outside the repository) runs on its own.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { installPluginFiles, librariesFromMaps, pluginFilesPresent, renderKubeconfig, sonameAliases, PLUGIN_FILES } from '../src/cni/index.js';

const PLUGIN = fileURLToPath(new URL('../src/cni/plugin/main.js', import.meta.url));
const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:01:05', sandbox: '/var/run/netns/cni-1234' }],
  ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 0 }],
};
const TOKEN = 'test-token-abc';

function tmpDir(t: { teardown(fn: () => void): void }, prefix = 'ambit-cni-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function runPlugin(cmd: string, env: Record<string, string>, stdin: string, bin = PLUGIN): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const [file, args] = bin.endsWith('.js') ? [process.execPath, [bin]] : [bin, []];
    const child = spawn(file, args, {
      env: { PATH: process.env.PATH ?? '', CNI_COMMAND: cmd, CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/var/run/netns/cni-1234', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
    child.stdin.end(stdin);
  });
}

const K8S_ARGS = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=1b2c3d4e-0000-4000-8000-000000000001';

function netconf(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'ambit',
    type: 'ambit-cni',
    cni_event_address: '/nonexistent/pluginevent.sock',
    kubernetes: { kubeconfig: '/nonexistent/kubeconfig', exclude_namespaces: ['kube-system', 'istio-system'] },
    prevResult: PREV,
    ...over,
  });
}

/** A fake node agent on a Unix socket: records events, answers with `reply`. */
async function fakeAgent(t: { teardown(fn: () => void): void }, reply: { status: number; body: string }) {
  const sock = path.join(tmpDir(t), 'pluginevent.sock');
  const events: { path: string; body: unknown }[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      events.push({ path: req.url ?? '', body: JSON.parse(data) });
      res.writeHead(reply.status, { 'content-type': reply.status === 200 ? 'application/json' : 'text/plain' }).end(reply.body);
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  t.teardown(() => server.close());
  return { sock, events };
}

/** A fake API server over HTTPS (self-signed for 127.0.0.1) serving one pod and its namespace. */
async function fakeApi(t: { teardown(fn: () => void): void }, pod: object | undefined, ns: object) {
  const dir = tmpDir(t);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const requests: string[] = [];
  const server = https.createServer({ key: fs.readFileSync(`${dir}/k.pem`), cert: fs.readFileSync(`${dir}/c.pem`) }, (req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization === `Bearer ${TOKEN}` ? 'token-ok' : 'no-token'}`);
    const body = req.url === '/api/v1/namespaces/ns1/pods/p1' ? pod : req.url === '/api/v1/namespaces/ns1' ? ns : undefined;
    if (!body) return res.writeHead(404).end('{}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const kubeconfig = path.join(dir, 'ZZZ-ambit-cni-kubeconfig');
  const server_ = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fs.writeFileSync(kubeconfig, renderKubeconfig({ server: server_, token: TOKEN, caData: fs.readFileSync(`${dir}/c.pem`).toString('base64') }), { mode: 0o600 });
  return { kubeconfig, requests };
}

const podObj = (labels: Record<string, string> = {}) => ({ metadata: { name: 'p1', namespace: 'ns1', uid: 'u', labels }, spec: { nodeName: 'n1' }, status: { phase: 'Pending' } });
const nsObj = (labels: Record<string, string> = {}) => ({ metadata: { name: 'ns1', labels } });
const conf = (sock: string, kubeconfig: string) => netconf({ cni_event_address: sock, kubernetes: { kubeconfig, exclude_namespaces: ['kube-system', 'istio-system'] } });

test('VERSION prints the supported versions', async (t) => {
  const r = await runPlugin('VERSION', {}, '{"cniVersion":"1.0.0"}');
  t.is(r.code, 0);
  const v = JSON.parse(r.stdout);
  t.is(v.cniVersion, '1.0.0');
  t.true(v.supportedVersions.includes('1.0.0'));
  t.true(v.supportedVersions.includes('0.4.0'));
});

test('ADD posts the pod to the agent and prints prevResult unchanged', async (t) => {
  const agent = await fakeAgent(t, { status: 200, body: '{"enrolled":true,"reason":"namespace-label"}' });
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, netconf({ cni_event_address: agent.sock }));
  t.is(r.code, 0);
  t.deepEqual(JSON.parse(r.stdout), PREV);
  t.deepEqual(agent.events, [
    {
      path: '/cmdadd',
      body: { podName: 'p1', podNamespace: 'ns1', podUid: '1b2c3d4e-0000-4000-8000-000000000001', netns: '/var/run/netns/cni-1234', containerId: 'c0ffee', ifname: 'eth0', ips: ['10.244.1.5'] },
    },
  ]);
});

test('ADD fails with the agent’s one-line reason when the agent cannot program the pod', async (t) => {
  const agent = await fakeAgent(t, { status: 500, body: 'iptables-restore in /var/run/netns/cni-1234 exited 1: bad rule\n' });
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, netconf({ cni_event_address: agent.sock }));
  t.is(r.code, 1);
  const e = JSON.parse(r.stdout);
  t.is(e.code, 999);
  t.is(e.cniVersion, '1.0.0');
  t.is(e.msg, 'ambit node agent could not add pod ns1/p1 to the mesh: iptables-restore in /var/run/netns/cni-1234 exited 1: bad rule');
});

test('agent down + pod that wants ambient (pod label): ADD refused with a clear message', async (t) => {
  const api = await fakeApi(t, podObj({ 'istio.io/dataplane-mode': 'ambient' }), nsObj());
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, conf('/nonexistent/pluginevent.sock', api.kubeconfig));
  t.is(r.code, 1);
  const e = JSON.parse(r.stdout);
  t.is(e.code, 999);
  t.is(e.msg, 'ambit node agent not reachable at /nonexistent/pluginevent.sock; pod ns1/p1 wants ambient: refusing to start it unprotected');
  t.true(api.requests.includes('GET /api/v1/namespaces/ns1/pods/p1 token-ok'));
});

test('agent down + namespace labelled ambient: ADD refused too', async (t) => {
  const api = await fakeApi(t, podObj(), nsObj({ 'istio.io/dataplane-mode': 'ambient' }));
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, conf('/nonexistent/pluginevent.sock', api.kubeconfig));
  t.is(r.code, 1);
  t.regex(JSON.parse(r.stdout).msg, /wants ambient: refusing to start it unprotected$/);
});

test('agent down + pod not in ambient: prevResult out, pod starts', async (t) => {
  const api = await fakeApi(t, podObj({ 'istio.io/dataplane-mode': 'none' }), nsObj({ 'istio.io/dataplane-mode': 'ambient' }));
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, conf('/nonexistent/pluginevent.sock', api.kubeconfig));
  t.is(r.code, 0);
  t.deepEqual(JSON.parse(r.stdout), PREV);
});

test('agent down + a socket file nobody listens on counts as down too', async (t) => {
  const dir = tmpDir(t);
  const sock = path.join(dir, 'stale.sock');
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(sock, r));
  await new Promise<void>((r) => s.close(() => r()));
  fs.writeFileSync(sock, ''); // a stale plain file where the socket was
  const api = await fakeApi(t, podObj(), nsObj());
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, conf(sock, api.kubeconfig));
  t.is(r.code, 0);
});

test('agent down and API server unreachable: refused, saying both', async (t) => {
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, netconf());
  t.is(r.code, 1);
  const e = JSON.parse(r.stdout);
  t.regex(e.msg, /^ambit node agent not reachable at \/nonexistent\/pluginevent\.sock, and the API server could not tell whether pod ns1\/p1 wants ambient/);
  t.regex(e.details, /cannot read kubeconfig \/nonexistent\/kubeconfig/);
});

test('excluded namespaces (kube-system, the agent’s own) are never blocked nor sent to the agent', async (t) => {
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS.replace('K8S_POD_NAMESPACE=ns1', 'K8S_POD_NAMESPACE=kube-system') }, netconf());
  t.is(r.code, 0);
  t.deepEqual(JSON.parse(r.stdout), PREV);
  const r2 = await runPlugin('ADD', { CNI_ARGS: '' }, netconf());
  t.is(r2.code, 0, 'not a Kubernetes pod: passed through');
});

test('DEL notifies the agent and succeeds quietly; with the agent down it still succeeds', async (t) => {
  const agent = await fakeAgent(t, { status: 500, body: 'whatever' });
  const r = await runPlugin('DEL', { CNI_ARGS: K8S_ARGS }, netconf({ cni_event_address: agent.sock, prevResult: undefined }));
  t.deepEqual(r, { code: 0, stdout: '' });
  t.is(agent.events[0]?.path, '/cmddel');
  t.is((agent.events[0]?.body as { podUid: string }).podUid, '1b2c3d4e-0000-4000-8000-000000000001');
  t.deepEqual(await runPlugin('DEL', { CNI_ARGS: K8S_ARGS, CNI_NETNS: '' }, netconf()), { code: 0, stdout: '' });
  t.deepEqual(await runPlugin('CHECK', { CNI_ARGS: K8S_ARGS }, netconf()), { code: 0, stdout: '' });
});

test('bad input: CNI error JSON on stdout, exit 1, nothing crashes', async (t) => {
  const bad = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, '{oops');
  t.is(bad.code, 1);
  t.regex(JSON.parse(bad.stdout).msg, /network config on stdin is not a JSON object/);
  const noPrev = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, netconf({ prevResult: undefined }));
  t.is(noPrev.code, 1);
  t.regex(JSON.parse(noPrev.stdout).msg, /must run chained after the primary CNI plugin/);
  const unknown = await runPlugin('FROB', {}, netconf());
  t.is(unknown.code, 1);
  t.regex(JSON.parse(unknown.stdout).msg, /unknown CNI_COMMAND "FROB"/);
});

test('the installed copy (sh wrapper + copied files, outside the repository) runs on its own', async (t) => {
  const bin = tmpDir(t, 'ambit-cni-bin-');
  // A stand-in for the Node binary (copying the real one costs ~100 MB per run): execs this Node.
  const fakeNode = path.join(tmpDir(t), 'node');
  fs.writeFileSync(fakeNode, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  const written = installPluginFiles({ binDir: bin, nodeBinary: fakeNode, bundleLibraries: false });
  t.true(written.includes(path.join(bin, 'ambit-cni')));
  t.is(fs.statSync(path.join(bin, 'ambit-cni')).mode & 0o777, 0o755);
  for (const f of PLUGIN_FILES) t.true(fs.existsSync(path.join(bin, 'ambit-cni.d', f)), f);
  t.deepEqual(installPluginFiles({ binDir: bin, nodeBinary: fakeNode, bundleLibraries: false }), [], 'second install: nothing rewritten');
  const v = await runPlugin('VERSION', {}, '{"cniVersion":"1.0.0"}', path.join(bin, 'ambit-cni'));
  t.is(v.code, 0);
  t.true(JSON.parse(v.stdout).supportedVersions.includes('1.0.0'));
  // The agent-down path imports enrollment.js: it must be among the copied files.
  const api = await fakeApi(t, podObj({ 'istio.io/dataplane-mode': 'ambient' }), nsObj());
  const r = await runPlugin('ADD', { CNI_ARGS: K8S_ARGS }, conf('/nonexistent/pluginevent.sock', api.kubeconfig), path.join(bin, 'ambit-cni'));
  t.is(r.code, 1);
  t.regex(JSON.parse(r.stdout).msg, /refusing to start it unprotected/);
});

test('the plugin imports only Node builtins and the files it is installed with', (t) => {
  const src = fileURLToPath(new URL('../src/', import.meta.url));
  for (const rel of PLUGIN_FILES) {
    const code = fs.readFileSync(path.join(src, rel), 'utf8');
    for (const m of code.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      const resolved = path.relative(src, path.resolve(path.dirname(path.join(src, rel)), spec));
      t.true((PLUGIN_FILES as readonly string[]).includes(resolved), `${rel} imports ${spec}, which is not installed with the plugin`);
    }
  }
});

test('the real Node binary runs on its own copied libraries and loader, not the host’s', async (t) => {
  const bin = tmpDir(t, 'ambit-cni-bin-');
  installPluginFiles({ binDir: bin });
  t.true(pluginFilesPresent(bin));
  const wrapper = fs.readFileSync(path.join(bin, 'ambit-cni'), 'utf8');
  const loader = /"\$d\/lib\/([^"]+)" --library-path "\$d\/lib" "\$d\/node"/.exec(wrapper)?.[1];
  t.truthy(loader, wrapper);
  const d = path.join(bin, 'ambit-cni.d');
  const maps = spawnSync(path.join(d, 'lib', loader!), ['--library-path', path.join(d, 'lib'), path.join(d, 'node'), '-e', "process.stdout.write(require('fs').readFileSync('/proc/self/maps','utf8'))"], { encoding: 'utf8' });
  t.is(maps.status, 0, maps.stderr);
  const libs = librariesFromMaps(maps.stdout);
  t.true(libs.length >= 2);
  for (const l of libs) t.true(l.startsWith(path.join(d, 'lib') + '/'), `${l} comes from the host`);
  const v = await runPlugin('VERSION', {}, '{"cniVersion":"1.0.0"}', path.join(bin, 'ambit-cni'));
  t.is(v.code, 0);
  // A library deleted behind the installer's back makes the files "missing" (the periodic check copies them again).
  fs.rmSync(path.join(d, 'lib', loader!));
  t.false(pluginFilesPresent(bin));
});

test('SONAME aliases and maps parsing', (t) => {
  t.deepEqual(sonameAliases('libstdc++.so.6.0.30'), ['libstdc++.so.6', 'libstdc++.so.6.0', 'libstdc++.so']);
  t.deepEqual(sonameAliases('libc.so.6'), ['libc.so']);
  t.deepEqual(sonameAliases('ld-linux-x86-64.so.2'), ['ld-linux-x86-64.so']);
  t.deepEqual(sonameAliases('libfoo.so'), []);
  t.deepEqual(
    librariesFromMaps('7f00-7f01 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n7f01-7f02 r-xp 00001000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n7f02-7f03 rw-p 00000000 00:00 0 [heap]\n5500-5600 r-xp 0 08:01 9 /usr/local/bin/node\n'),
    ['/usr/lib/x86_64-linux-gnu/libc.so.6'],
  );
});
