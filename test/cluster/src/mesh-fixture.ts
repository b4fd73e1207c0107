// The set-up the in-cluster mesh tests (mesh-l4, mesh-wire, node-agent, the fault suite) share: the shared cluster named by AMBIT_KUBECONFIG (or
// one of their own), Ambit installed unless it already is (and uninstalled afterwards only then), a fresh namespace,
// and the kubectl helpers the tests speak through. Root.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectCluster, startCluster, type Cluster } from './cluster.js';
import { waitFor } from './controlplane/exec.js';
import { repoRoot } from './controlplane/paths.js';
import { meshInstalled, waitSystemNamespaceSettled } from './mesh-install.js';

export const exec = promisify(execFile);
export const repo = repoRoot;
const cli = join(repo, 'controller', 'dist', 'src', 'cli', 'main.js');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class MeshFixture {
  readonly ns: string;
  #ownCluster = false;
  #installedHere = false;

  private constructor(
    readonly cluster: Cluster,
    ns: string,
  ) {
    this.ns = ns;
  }

  /** A fresh namespace name: `<prefix>-<6 hex>`. */
  static namespace(prefix: string): string {
    return `${prefix}-${randomBytes(3).toString('hex')}`;
  }

  /** Connects (or starts a cluster), installs Ambit if needed, waits for ztunnel and istiod, creates namespace `ns`. */
  static async open(ns: string): Promise<MeshFixture> {
    const kubeconfig = process.env.AMBIT_KUBECONFIG;
    const f = new MeshFixture(kubeconfig ? await connectCluster(kubeconfig) : await startCluster({ nodes: 2 }), ns);
    f.#ownCluster = !kubeconfig;
    if (!(await meshInstalled(f.cluster))) {
      // A previous uninstall may still be deleting the system namespace: installing into it would be refused.
      await waitSystemNamespaceSettled(f.cluster);
      await f.ambit(['install'], 300_000);
      f.#installedHere = true;
    }
    await f.must(['rollout', 'status', '-n', 'istio-system', 'daemonset/ztunnel', '--timeout=180s']);
    await f.must(['rollout', 'status', '-n', 'istio-system', 'deployment/istiod', '--timeout=180s']);
    await f.must(['create', 'namespace', f.ns]);
    return f;
  }

  /** Deletes the namespace; uninstalls Ambit if this fixture installed it; stops a cluster of its own. */
  async close(): Promise<void> {
    await this.kubectl(['delete', 'namespace', this.ns, '--ignore-not-found', '--wait=true', '--timeout=120s']);
    if (this.#installedHere) {
      await this.ambit(['uninstall'], 300_000).catch(() => undefined);
      await this.kubectl(['wait', '--for=delete', 'namespace/istio-system', '--timeout=180s']);
    }
    if (this.#ownCluster) await this.cluster.stop();
  }

  /** The `ambit` CLI against this cluster. */
  async ambit(args: string[], timeout = 60_000): Promise<string> {
    return (await exec(process.execPath, [cli, ...args], { env: { ...process.env, KUBECONFIG: this.cluster.kubeconfigPath }, timeout })).stdout;
  }

  async kubectl(args: string[], input?: string): Promise<KubectlResult> {
    const r = await this.cluster.kubectl(args, { input, timeoutMs: 120_000 });
    return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /** kubectl that must succeed: its stdout, or an error with its stderr. */
  async must(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Polls `fn` until it returns something other than undefined/false (errors are retried, the last one reported). */
  async eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    // Boxed: a result such as '' or 0 counts as seen, where waitFor would keep polling on it.
    const box = await waitFor(what, async () => {
      const v = await fn();
      return v === undefined || v === false ? undefined : { v };
    }, timeoutMs, 500);
    return box.v;
  }

  /** `kubectl exec deploy/<client> -- curl -s … -w %{http_code}`: what the user sees (stdout, stderr, exit code). */
  curl(client: string, url = 'http://server/', extra: string[] = []): Promise<KubectlResult> {
    return this.kubectl(['exec', '-n', this.ns, `deploy/${client}`, '--', 'curl', '-s', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', ...extra, url]);
  }

  /** Whether each pod of the namespace carries `ambient.istio.io/redirection: enabled`. */
  async redirected(): Promise<boolean[]> {
    const list = JSON.parse(await this.must(['get', 'pods', '-n', this.ns, '-o', 'json'])) as { items: { metadata: { annotations?: Record<string, string> } }[] };
    return list.items.map((p) => p.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled');
  }

  ztunnelLogs(): Promise<string> {
    return this.must(['logs', '-n', 'istio-system', '-l', 'app=ztunnel', '--tail=-1', '--prefix', '--max-log-requests=20']);
  }

  /** The ztunnel pods not on their way out (draining after a delete or a rollout). */
  async ztunnelPods(): Promise<{ name: string; ip: string; node: string; restarts: number }[]> {
    const list = JSON.parse(await this.must(['get', 'pods', '-n', 'istio-system', '-l', 'app=ztunnel', '-o', 'json'])) as {
      items: {
        metadata: { name: string; deletionTimestamp?: string };
        spec: { nodeName: string };
        status: { podIP?: string; containerStatuses?: { restartCount: number }[] };
      }[];
    };
    return list.items
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => ({
        name: p.metadata.name,
        ip: p.status.podIP ?? '',
        node: p.spec.nodeName,
        restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      }));
  }
}
