// A bare control plane for kubelet-server tests: etcd and a real kube-apiserver (default feature gates) on free
// loopback ports, trusting a test CA for the kubelet, and kubectl pointed at it. No controllers, no scheduler: the
// test creates the Node and a Pod bound to it, and the apiserver proxies exec/logs to our kubelet server.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import type { KubeletTestPKI } from './pki.js';

export interface TestControlPlane {
  dir: string;
  kubeconfig: string;
  kubectl: string;
  apiserverPort: number;
  /** Output of the control-plane processes, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function get(url: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startTestControlPlane(binDir: string, pki: KubeletTestPKI): Promise<TestControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-kubelet-test-'));
  const procs: ChildProcess[] = [];
  let out = '';
  const launch = (name: string, cmd: string, args: string[]) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => (out = (out + b.toString().replace(/^/gm, `${name}: `)).slice(-20_000));
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    procs.push(p);
    return p;
  };
  const stopOne = async (p: ChildProcess) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    // kube-apiserver's graceful shutdown can wait on etcd; it gives up on a second signal, or we force it.
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const stop = async () => {
    for (const p of [...procs].reverse()) await stopOne(p); // the apiserver before its etcd
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const token = randomBytes(16).toString('hex');
    const files = {
      tokens: join(dir, 'tokens.csv'),
      sa: join(dir, 'sa.key'),
      ca: join(dir, 'ca.crt'),
      clientCert: join(dir, 'kubelet-client.crt'),
      clientKey: join(dir, 'kubelet-client.key'),
      kubeconfig: join(dir, 'kubeconfig'),
    };
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await writeFile(files.tokens, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    await writeFile(files.sa, sa.privateKey, { mode: 0o600 });
    await writeFile(files.ca, pki.ca.certPem);
    await writeFile(files.clientCert, pki.client.certPem);
    await writeFile(files.clientKey, pki.client.keyPem, { mode: 0o600 });
    await writeFile(
      files.kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: `https://127.0.0.1:${apiPort}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'default' } }],
        'current-context': 'test',
      }),
      { mode: 0o600 },
    );

    launch('etcd', join(binDir, 'etcd'), [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    launch('kube-apiserver', join(binDir, 'kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${files.tokens}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.99.0.0/16',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${files.sa}`,
      `--service-account-signing-key-file=${files.sa}`,
      '--disable-admission-plugins=ServiceAccount',
      `--kubelet-client-certificate=${files.clientCert}`,
      `--kubelet-client-key=${files.clientKey}`,
      `--kubelet-certificate-authority=${files.ca}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--profiling=false',
    ]);
    const deadline = Date.now() + 90_000;
    while ((await get(`https://127.0.0.1:${apiPort}/readyz`, token)) !== 200) {
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready after 90s:\n${out}`);
      if (procs.some((p) => p.exitCode !== null)) throw new Error(`control plane exited:\n${out}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { dir, kubeconfig: files.kubeconfig, kubectl: join(binDir, 'kubectl'), apiserverPort: apiPort, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
