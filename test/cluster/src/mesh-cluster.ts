// The set-up the cluster tests that speak through a shell share (dashboard, prometheus, istioctl, ingress, waypoint
// plugins, the walkthrough): the shared cluster named by AMBIT_KUBECONFIG or one of their own, a shell with kubectl
// and `ambit` on PATH, Ambit installed unless it already is; and a close() that removes only what was added.
import { join } from 'node:path';
import { buildControlPlane } from './controlplane/build.js';
import { repoRoot } from './controlplane/paths.js';
import { connectCluster, startCluster, type Cluster } from './cluster.js';
import { addonInstalled, meshInstalled, waitSystemNamespaceSettled } from './mesh-install.js';
import { createShell, type Shell } from './shell.js';

export interface TestClusterOptions {
  /** Directories put on PATH before the repository's node_modules/.bin and the control plane's binaries. */
  pathPrepend?: string[];
  /** How long sh() lets a command run; default 300 s. */
  commandTimeoutMs?: number;
  /** Namespaces the test creates: close() deletes them (and waits, up to 2 minutes) first. */
  namespaces?: string[];
  /** Other objects the test creates (`kubectl delete` arguments): close() deletes them after the namespaces. */
  alsoDelete?: string[];
}

export interface MeshClusterOptions extends TestClusterOptions {
  /** Add-ons the test needs (`ambit install --addons a,b`), waited for (rollout status) after open. */
  addons?: string[];
  /**
   * false: the test runs `ambit install` itself (it is its subject). open() then only waits for istio-system to stop
   * terminating when the mesh is absent; close() still removes what the test's install added.
   */
  install?: boolean;
}

export interface TestCluster {
  cluster: Cluster;
  shell: Shell;
  /** A command through the shell that must succeed: its stdout, or an error with its exit code and stderr. */
  sh(command: string, input?: string): Promise<string>;
  /** Deletes what the options name, uninstalls what open() installed, stops a cluster it started. */
  close(): Promise<void>;
}

/** Connects to AMBIT_KUBECONFIG (or starts a cluster) and opens a shell on it; close() stops only a cluster it started. */
export async function openTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  return open(opts, async () => {});
}

/** openTestCluster with Ambit installed (and `addons`); on a failed set-up it closes what it opened and throws. */
export async function openMeshCluster(opts: MeshClusterOptions = {}): Promise<TestCluster> {
  const addons = opts.addons ?? [];
  const install = opts.install ?? true;
  const addonFlag = addons.length ? ` --addons ${addons.join(',')}` : '';
  return open(opts, async (c, sh, undo) => {
    if (!(await meshInstalled(c))) {
      await waitSystemNamespaceSettled(c);
      if (install) await sh(`ambit install${addonFlag}`);
      undo('ambit uninstall');
    } else {
      const missing: string[] = [];
      for (const a of addons) if (!(await addonInstalled(c, a))) missing.push(a);
      if (install && missing.length) await sh(`ambit install${addonFlag}`);
      for (const a of missing) undo(`kubectl delete -f samples/addons/${a}.yaml --ignore-not-found`);
    }
    if (install) for (const a of addons) await sh(`kubectl rollout status deployment/${a} -n istio-system --timeout=180s`);
  });
}

/** Connects or starts, opens the shell, runs `setUp` (which records the commands close() must run to undo it). */
async function open(opts: TestClusterOptions, setUp: (c: Cluster, sh: TestCluster['sh'], undo: (command: string) => void) => Promise<void>): Promise<TestCluster> {
  const binDir = await buildControlPlane();
  const kubeconfig = process.env.AMBIT_KUBECONFIG;
  const cluster = kubeconfig ? await connectCluster(kubeconfig) : await startCluster();
  const owned = !kubeconfig;
  const shell = createShell({ kubeconfigPath: cluster.kubeconfigPath, pathPrepend: [...(opts.pathPrepend ?? []), join(repoRoot, 'node_modules/.bin'), binDir], cwd: repoRoot });
  const timeoutMs = opts.commandTimeoutMs ?? 300_000;
  const undo: string[] = [];
  const t: TestCluster = {
    cluster,
    shell,
    async sh(command, input) {
      const r = await shell.run(command, { timeoutMs, input });
      if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
      return r.stdout;
    },
    async close() {
      if (opts.namespaces?.length) await shell.run(`kubectl delete namespace ${opts.namespaces.join(' ')} --ignore-not-found --wait=true --timeout=120s`);
      for (const what of opts.alsoDelete ?? []) await shell.run(`kubectl delete ${what} --ignore-not-found`);
      for (const command of undo) await shell.run(command);
      if (owned) await cluster.stop();
    },
  };
  try {
    await setUp(cluster, (command, input) => t.sh(command, input), (command) => undo.push(command));
  } catch (e) {
    await t.close();
    throw e;
  }
  return t;
}
