// Credentials from a kubeconfig, read by @kubernetes/client-node and sent by KubeClient to an API server on
// loopback: the headers it sees per request (exec credentials re-run when expired, token files trimmed), and the
// errors a user gets for a kubeconfig that cannot work.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, KubeConfigError, loadClusterAccess } from '../src/kube/index.js';

/** An API server on loopback that answers every GET with an empty Namespace list and records Authorization. */
async function apiServer(t: { teardown: (fn: () => void) => void }) {
  const seen: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function kubeconfig(dir: string, server: string, user: string, extra = ''): string {
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "${server}"}\nusers:\n- name: u\n  user:\n${user}\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: apps}\n${extra}current-context: x\n`,
  );
  return file;
}

const NS = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };

test('exec credentials run again when they expire: each request carries the plugin\'s current token', async (t) => {
  const api = await apiServer(t);
  const dir = mkdtempSync(join(tmpdir(), 'kc-exec-'));
  const plugin = join(dir, 'plugin.mjs');
  // Each run prints the next token, already expired, so client-node must run the plugin for every request.
  writeFileSync(
    plugin,
    `#!/usr/bin/env node\nimport { readFileSync, writeFileSync } from 'node:fs';\nconst f = ${JSON.stringify(join(dir, 'n'))};\nlet n = 0; try { n = Number(readFileSync(f, 'utf8')); } catch {}\nwriteFileSync(f, String(n + 1));\nprocess.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'tok-' + (n + 1), expirationTimestamp: '2000-01-01T00:00:00Z' } }));\n`,
  );
  chmodSync(plugin, 0o755);
  const file = kubeconfig(dir, api.url, `    exec: {apiVersion: client.authentication.k8s.io/v1, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(plugin)}]}`);
  const client = new KubeClient(await loadClusterAccess({ kubeconfig: file }));
  t.teardown(() => client.close());
  await client.list(NS);
  await client.list(NS);
  t.deepEqual(api.seen, ['Bearer tok-2', 'Bearer tok-3']); // tok-1 was the check at load time
  t.is(client.namespace, 'apps');
});

test('tokenFile (kubectl\'s field) is read relative to the kubeconfig and sent trimmed', async (t) => {
  const api = await apiServer(t);
  const dir = mkdtempSync(join(tmpdir(), 'kc-tf-'));
  writeFileSync(join(dir, 'token'), 'from-file\n');
  const client = new KubeClient(await loadClusterAccess({ kubeconfig: kubeconfig(dir, api.url, '    tokenFile: token') }));
  t.teardown(() => client.close());
  await client.list(NS);
  t.deepEqual(api.seen, ['Bearer from-file']);
});

test('basic credentials and --context choose what is sent', async (t) => {
  const api = await apiServer(t);
  const dir = mkdtempSync(join(tmpdir(), 'kc-ctx-'));
  const other = `contexts:\n- name: other\n  context: {cluster: c, user: b}\n`;
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: "${api.url}"}\nusers:\n- name: u\n  user: {token: abc}\n- name: b\n  user: {username: ann, password: pw}\n${other}current-context: missing\n`,
  );
  const client = new KubeClient(await loadClusterAccess({ kubeconfig: file, context: 'other' }));
  t.teardown(() => client.close());
  await client.list(NS);
  t.deepEqual(api.seen, [`Basic ${Buffer.from('ann:pw').toString('base64')}`]);
  t.is(client.namespace, 'default');
});

test('a kubeconfig that cannot work: errors name the file, the entry and what to do', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-bad-'));
  const file = kubeconfig(dir, 'https://127.0.0.1:1', '    token: abc');
  let err = await t.throwsAsync(loadClusterAccess({ kubeconfig: file, context: 'nope' }), { instanceOf: KubeConfigError });
  t.is(err.message, `context "nope" not found in kubeconfig ${file} (contexts: x)`);

  const noCurrent = join(dir, 'no-current');
  writeFileSync(noCurrent, 'apiVersion: v1\nclusters: []\n');
  err = await t.throwsAsync(loadClusterAccess({ kubeconfig: noCurrent }), { instanceOf: KubeConfigError });
  t.is(err.message, `kubeconfig ${noCurrent} has no current-context: pass --context or run \`kubectl config use-context <name>\``);

  const broken = kubeconfig(mkdtempSync(join(tmpdir(), 'kc-bad-')), 'https://127.0.0.1:1', `    exec: {apiVersion: client.authentication.k8s.io/v1, command: ${JSON.stringify(process.execPath)}, args: [-e, "process.stderr.write('token expired, log in again'); process.exit(1)"]}`);
  err = await t.throwsAsync(loadClusterAccess({ kubeconfig: broken }), { instanceOf: KubeConfigError });
  t.regex(err.message, /^kubeconfig exec credential plugin \S*node\S* failed: token expired, log in again \(kubeconfig \S+; run the plugin by hand to see why, or fix the user's exec entry\)$/);

  err = await t.throwsAsync(loadClusterAccess({ env: { HOME: '/nonexistent' } }), { instanceOf: KubeConfigError });
  t.is(err.message, 'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config');
});
