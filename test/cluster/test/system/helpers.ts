// Shared checks of the system tests: what a stopped cluster must not leave behind.
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { NODE_PATHS } from '../../src/realnode/layout.js';
import type { Cluster } from '../../src/index.js';
import { bridgeExists, listChains, listNetns } from '../../src/controlplane/network.js';
import { descendants, listProcesses, mountsUnder, processesFrom } from '../../src/controlplane/cleanup.js';

/**
 * Processes from the bin dir that could be ours: descendants of this test process, or orphans (re-parented to
 * init: exactly what a leaky teardown leaves). Other developers' control planes on the machine are neither.
 */
async function ourProcessesFrom(binDir: string) {
  const all = await listProcesses();
  const mine = new Set(descendants(all, process.pid).map((p) => p.pid));
  return (await processesFrom(binDir)).filter((p) => mine.has(p.pid) || p.ppid === 1);
}

export interface Leftovers {
  processes: string[];
  /** cgroups of real nodes (/ambit-node-N in any v1 hierarchy) and processes still in them. */
  cgroups: string[];
  /** Node paths (/var/lib/kubelet, /run/containerd, ...) still mounted on the machine. */
  nodeMounts: string[];
  netns: string[];
  bridge: boolean;
  chains: string[];
  mounts: string[];
  stateDir: boolean;
}

/** What already ran before the cluster started (another developer's cluster on the same machine): not ours. */
export interface Baseline {
  pids: Set<number>;
  netns: Set<string>;
  /** Node paths already mounted on the machine (`ip netns add` mounts /run/netns, for one). */
  nodeMounts: Set<string>;
}

async function mountedNodePaths(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => (NODE_PATHS as readonly string[]).includes(m));
}

export async function baseline(binDir: string): Promise<Baseline> {
  return {
    pids: new Set((await processesFrom(binDir)).map((p) => p.pid)),
    netns: new Set(await listNetns('ambit-')),
    nodeMounts: new Set(await mountedNodePaths()),
  };
}

/**
 * The network namespace names of every pod of the cluster (ambit-<pod uid>); ask before stop(). Other node
 * agents on the machine (a developer's) name their pods' namespaces the same way, so leftovers are judged by
 * this list rather than by the prefix alone.
 */
export async function podNetnsNames(cluster: Cluster): Promise<Set<string>> {
  const r = await cluster.kubectl(['get', 'pods', '-A', '-o', 'jsonpath={.items[*].metadata.uid}']);
  return new Set(r.stdout.split(/\s+/).filter(Boolean).map((uid) => `ambit-${uid}`));
}

export async function leftovers(binDir: string, stateDir: string, before?: Baseline, podNetns?: Set<string>): Promise<Leftovers> {
  return {
    processes: (await ourProcessesFrom(binDir)).filter((p) => !before?.pids.has(p.pid)).map((p) => `${p.pid} ${p.exe}`),
    cgroups: (await readdir('/sys/fs/cgroup/cpu').catch(() => [] as string[])).filter((d) => d.startsWith('ambit-node-')),
    nodeMounts: (await mountedNodePaths()).filter((m) => !before?.nodeMounts.has(m)),
    netns: (await listNetns('ambit-')).filter((n) => !before?.netns.has(n) && (!podNetns || podNetns.has(n))),
    bridge: await bridgeExists(),
    chains: await listChains(/^(AMBIT|KUBE)-/),
    mounts: await mountsUnder(stateDir),
    stateDir: existsSync(stateDir),
  };
}

export const noLeftovers: Leftovers = { processes: [], cgroups: [], nodeMounts: [], netns: [], bridge: false, chains: [], mounts: [], stateDir: false };
