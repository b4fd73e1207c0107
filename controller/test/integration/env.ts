// The API server integration tests run against: the shared local cluster named by AMBIT_KUBECONFIG when set,
// otherwise a private control plane started here from the cached Kubernetes binaries (etcd, kube-apiserver,
// kube-controller-manager for garbage collection and EndpointSlices; no nodes, so Pods stay Pending), with the
// Gateway API CRDs installed from the pinned module in the Go module cache. Both caches live under AMBIT_CACHE
// (default /var/cache/ambit), found exactly as @ambit/cluster finds them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binCacheDir, goModCache } from '@ambit/cluster';
import { KubeClient, loadClusterAccess } from '../../src/kube/index.js';

export interface TestCluster {
  kubeconfig: string;
  /** A user without any RBAC rights (private control plane only). */
  limitedKubeconfig?: string;
  client: KubeClient;
  /** True when the cluster runs Pods (the shared local cluster with virtual nodes). */
  runsPods: boolean;
  stop(): Promise<void>;
}


function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** What a test that needs the Kubernetes binaries says when they are not there (one line). */
export const MISSING_K8S_BINARIES = `Kubernetes binaries not found: no ${binCacheDir}/k8s-*/kube-apiserver (AMBIT_CACHE=${process.env.AMBIT_CACHE ?? 'unset'}); build them with bash test/k8s/build.sh or set AMBIT_K8S_BIN`;

export function binDir(): string | undefined {
  if (process.env.AMBIT_K8S_BIN) return process.env.AMBIT_K8S_BIN;
  if (!existsSync(binCacheDir)) return undefined;
  const dirs = readdirSync(binCacheDir).filter((d) => d.startsWith('k8s-') && existsSync(join(binCacheDir, d, 'kube-apiserver')));
  return dirs.length ? join(binCacheDir, dirs.sort().at(-1)!) : undefined;
}

/** The Istio CRDs (istio.io/api's customresourcedefinitions.gen.yaml) in the Go module cache. */
export function istioCrdFile(): string {
  const root = join(goModCache, 'istio.io');
  const v = existsSync(root) ? readdirSync(root).filter((d) => d.startsWith('api@')).sort().at(-1) : undefined;
  if (!v) throw new Error(`istio.io/api not found in the Go module cache ${goModCache} (AMBIT_CACHE=${process.env.AMBIT_CACHE ?? 'unset'})`);
  return join(root, v, 'kubernetes', 'customresourcedefinitions.gen.yaml');
}

export function gatewayCrdDir(): string | undefined {
  const root = join(goModCache, 'sigs.k8s.io');
  if (!existsSync(root)) return undefined;
  const v = readdirSync(root).filter((d) => d.startsWith('gateway-api@')).sort().at(0);
  return v ? join(root, v, 'config/crd/standard') : undefined;
}

export function kubectl(kubeconfig: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const bin = binDir() ? join(binDir()!, 'kubectl') : 'kubectl';
  const r = spawnSync(bin, ['--kubeconfig', kubeconfig, ...args], { input, encoding: 'utf8' });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export function installGatewayCRDs(kubeconfig: string): void {
  const dir = gatewayCrdDir();
  if (!dir) throw new Error(`Gateway API CRDs not found in the Go module cache ${goModCache} (AMBIT_CACHE=${process.env.AMBIT_CACHE ?? 'unset'})`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.includes('vap_'));
  for (const f of files) {
    const r = kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', join(dir, f)]);
    if (r.status !== 0) throw new Error(`kubectl apply ${f}: ${r.stderr}`);
  }
  const r = kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/gateways.gateway.networking.k8s.io', 'crd/gatewayclasses.gateway.networking.k8s.io', 'crd/httproutes.gateway.networking.k8s.io']);
  if (r.status !== 0) throw new Error(`CRDs not established: ${r.stderr}`);
}

async function waitHealthy(client: KubeClient, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await client.request({ path: '/readyz' });
      await client.get({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false }, undefined, 'default');
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`API server not healthy: ${String(last)}`);
}

/** A private etcd + kube-apiserver + kube-controller-manager. */
export async function startPrivateControlPlane(opts: { gatewayCRDs?: boolean } = {}): Promise<TestCluster> {
  const bin = binDir();
  if (!bin) throw new Error(MISSING_K8S_BINARIES);
  const dir = mkdtempSync(join(tmpdir(), 'ambit-ctl-'));
  const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const token = 'ambit-test-admin-token';
  writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin,system:masters\nambit-test-limited-token,limited,limited\n`);
  const kc = (tok: string) =>
    `apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:${apiPort}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: ${tok}\ncontexts:\n- name: test\n  context: {cluster: test, user: u}\ncurrent-context: test\n`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kc(token));
  const limitedKubeconfig = join(dir, 'limited.kubeconfig');
  writeFileSync(limitedKubeconfig, kc('ambit-test-limited-token'));
  const procs: ChildProcess[] = [];
  const run = (name: string, args: string[]) => {
    const out = createWriteStream(join(dir, `${name}.log`));
    const p = spawn(join(bin, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.pipe(out);
    p.stderr!.pipe(out);
    procs.push(p);
  };
  run('etcd', [
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ]);
  run('kube-apiserver', [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${join(dir, 'certs')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.97.0.0/16',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
  ]);
  const client = new KubeClient(await loadClusterAccess({ kubeconfig }));
  try {
    await waitHealthy(client, 60_000);
  } catch (err) {
    procs.forEach((p) => p.kill('SIGKILL'));
    throw err;
  }
  run('kube-controller-manager', [
    `--kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    `--service-account-private-key-file=${join(dir, 'sa.key')}`,
    '--controllers=*,-nodeipam,-nodelifecycle,-ttl',
    '--secure-port=0',
    '--concurrent-gc-syncs=5',
  ]);
  if (opts.gatewayCRDs !== false) installGatewayCRDs(kubeconfig);
  return {
    kubeconfig,
    limitedKubeconfig,
    client,
    runsPods: false,
    async stop() {
      client.close();
      for (const p of procs.reverse()) {
        p.kill('SIGTERM');
        await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The shared cluster (AMBIT_KUBECONFIG) or a private control plane. */
export async function getTestCluster(): Promise<TestCluster> {
  const shared = process.env.AMBIT_KUBECONFIG;
  if (shared) {
    const client = new KubeClient(await loadClusterAccess({ kubeconfig: shared }));
    return { kubeconfig: shared, client, runsPods: true, stop: async () => client.close() };
  }
  return startPrivateControlPlane();
}

/** Polls `fn` until it returns a truthy value. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
