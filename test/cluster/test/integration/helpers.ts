// What the integration tests of the local cluster share: the shared cluster, kubectl that must succeed, polling,
// and the view of a pod's network namespace from the host.
import { execFileSync } from 'node:child_process';
import { connectCluster, waitFor, type Cluster } from '../../src/index.js';

/** The cluster `npm test` started (AMBIT_KUBECONFIG); these tests never start one of their own. */
export async function sharedCluster(): Promise<Cluster> {
  const kubeconfig = process.env.AMBIT_KUBECONFIG;
  if (!kubeconfig) throw new Error('AMBIT_KUBECONFIG is not set: run through `npm test` (scripts/test.mjs), which starts the shared cluster');
  return connectCluster(kubeconfig);
}

/** kubectl against `cluster` that must succeed: its stdout, or an error with the exit code and stderr. */
export async function kubectlOk(cluster: Cluster, args: string[], input?: string, timeoutMs = 120_000): Promise<string> {
  const r = await cluster.kubectl(args, { input, timeoutMs });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Polls `fn` until it returns something truthy (errors are retried, the last one reported on timeout). */
export function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 120_000, intervalMs = 300): Promise<T> {
  return waitFor(what, async () => fn(), timeoutMs, intervalMs);
}

/** Processes inside the named network namespace (`ip netns pids`); none when it is gone. */
export function netnsPids(netns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
