// Upstream CRDs, pinned by the wrapper Go module crds/go.mod: Gateway API (experimental channel, a superset of
// standard) and Istio's CRDs. The YAMLs are read from the Go module cache, never copied into the repo.
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run, runOk } from '../controlplane/exec.js';
import { ambitCrdsDir, crdsModuleDir, goModCache } from '../controlplane/paths.js';

export const GATEWAY_API_MODULE = 'sigs.k8s.io/gateway-api';
export const ISTIO_API_MODULE = 'istio.io/api';

export interface InstallCRDsOptions {
  log?: (line: string) => void;
  /** kubectl binary (default: the one in the control plane bin dir, else `kubectl` on PATH). */
  kubectl?: string;
  timeoutMs?: number;
  /**
   * What a CRD under crds/ambit that the apiserver rejects does: 'throw' (default) or 'warn' (log it, apply the
   * rest: startCluster uses this so one broken project CRD does not take the whole cluster down).
   */
  ambitCRDErrors?: 'throw' | 'warn';
}

function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOMODCACHE: goModCache,
    GOFLAGS: '-mod=mod',
    GOTOOLCHAIN: 'local',
    PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin`,
  };
}

/** Directory of a module pinned by crds/go.mod, downloaded into the module cache if needed. */
export async function moduleDir(module: string): Promise<string> {
  const out = await runOk('go', ['mod', 'download', '-json', module], { cwd: crdsModuleDir, env: goEnv(), timeoutMs: 300_000 });
  const info = JSON.parse(out) as { Dir?: string; Error?: string; Version?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}: ${info.Error ?? 'no Dir'}`);
  return info.Dir;
}

async function listYamls(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listYamls(p)));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** The upstream CRD files, in apply order. */
export async function upstreamCRDFiles(): Promise<string[]> {
  const gw = join(await moduleDir(GATEWAY_API_MODULE), 'config', 'crd', 'experimental');
  const kustomization = await readFile(join(gw, 'kustomization.yaml'), 'utf8');
  const gwFiles = [...kustomization.matchAll(/^- (\S+\.yaml)\s*$/gm)].map((m) => join(gw, m[1]!));
  const istio = join(await moduleDir(ISTIO_API_MODULE), 'kubernetes', 'customresourcedefinitions.gen.yaml');
  return [...gwFiles, istio];
}

async function crdNames(files: string[]): Promise<string[]> {
  const names: string[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(f, 'utf8'))) {
      const obj = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (obj?.kind === 'CustomResourceDefinition' && obj.metadata?.name) names.push(obj.metadata.name);
    }
  }
  return names;
}

async function applyAndWait(kubectl: string, env: NodeJS.ProcessEnv, files: string[], timeoutMs: number): Promise<number> {
  if (files.length === 0) return 0;
  const args = ['apply', '--server-side', '--force-conflicts', '--field-manager=ambit-cluster'];
  for (const f of files) args.push('-f', f);
  await runOk(kubectl, args, { env, timeoutMs });
  const names = await crdNames(files);
  if (names.length) {
    await runOk(
      kubectl,
      ['wait', '--for=condition=Established', `--timeout=${Math.round(timeoutMs / 1000)}s`, ...names.map((n) => `crd/${n}`)],
      { env, timeoutMs: timeoutMs + 5000 },
    );
  }
  return names.length;
}

export async function installUpstreamCRDs(kubeconfigPath: string, opts: InstallCRDsOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const kubectl = opts.kubectl ?? (await defaultKubectl());
  const env = { ...process.env, KUBECONFIG: kubeconfigPath };
  const started = Date.now();
  const n = await applyAndWait(kubectl, env, await upstreamCRDFiles(), timeoutMs);
  log(`upstream CRDs established: ${n} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  if (existsSync(ambitCrdsDir)) {
    const own = await listYamls(ambitCrdsDir);
    if (own.length === 0) return;
    if (opts.ambitCRDErrors !== 'warn') {
      const m = await applyAndWait(kubectl, env, own, timeoutMs);
      log(`ambit CRDs established: ${m} (from ${own.length} files under crds/ambit)`);
      return;
    }
    let m = 0;
    for (const file of own) {
      try {
        m += await applyAndWait(kubectl, env, [file], timeoutMs);
      } catch (e) {
        log(`WARNING: ${file} not installed: ${(e as Error).message.split('\n').slice(-1)[0]}`);
      }
    }
    log(`ambit CRDs established: ${m} (from ${own.length} files under crds/ambit)`);
  }
}

async function defaultKubectl(): Promise<string> {
  const { buildControlPlane } = await import('../controlplane/build.js');
  const bin = await buildControlPlane();
  const k = join(bin, 'kubectl');
  if (existsSync(k)) return k;
  if ((await run('sh', ['-c', 'command -v kubectl'])).code === 0) return 'kubectl';
  throw new Error('no kubectl found');
}
