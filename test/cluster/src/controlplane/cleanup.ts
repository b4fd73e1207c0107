// Teardown helpers and the best-effort cleanupLeftovers(): processes from the Kubernetes bin dirs, network
// namespaces ambit-*, the bridge, AMBIT-*/KUBE-* chains, mounts under the state dir.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './exec.js';
import { listNetns, removeChains, teardownHostNetwork } from './network.js';
import { binCacheDir, defaultStateDir, machineLockFile } from './paths.js';
import { teardownRealNodes } from '../realnode/teardown.js';
import { isAlive, killPids, listProcesses, mountsUnder, unmountUnder, type ProcInfo } from './reap.js';

export { descendants, isAlive, killPids, listProcesses, mountsUnder, processesFrom, unmountUnder, type ProcInfo } from './reap.js';

/**
 * Network namespaces whose host-side veth sits on a bridge other than `ours`: the pods of another node agent
 * on this machine (a developer's rig on its own bridge), which share the ambit-<uid> naming.
 */
export async function netnsOnOtherBridges(ours: string): Promise<Set<string>> {
  const links = await run('ip', ['-j', 'link', 'show', 'type', 'veth']);
  const ids = new Set<number>();
  try {
    for (const l of JSON.parse(links.stdout || '[]') as Array<{ link_netnsid?: number; master?: string }>) {
      if (typeof l.link_netnsid === 'number' && l.master && l.master !== ours) ids.add(l.link_netnsid);
    }
  } catch {
    /* no JSON: treat as none */
  }
  const names = new Set<string>();
  for (const line of (await run('ip', ['netns', 'list'])).stdout.split('\n')) {
    const m = /^(\S+) \(id: (\d+)\)/.exec(line.trim());
    if (m && ids.has(Number(m[2]))) names.add(m[1]!);
  }
  return names;
}

/** Delete netns named `prefix`*, except those of pods on other bridges (see netnsOnOtherBridges). */
export async function deleteNetns(prefix = 'ambit-', bridge = 'ambit0'): Promise<string[]> {
  const removed: string[] = [];
  const others = await netnsOnOtherBridges(bridge);
  for (const ns of (await listNetns(prefix)).filter((n) => !others.has(n))) {
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').map(Number).filter((n) => n > 0);
    if (pids.length) await killPids(pids, 1000);
    if ((await run('ip', ['netns', 'delete', ns])).code === 0) removed.push(`netns ${ns}`);
  }
  return removed;
}

/** iptables chains the cluster creates: AMBIT-* (ours) and KUBE-* (kube-proxy). */
export async function removeClusterChains(binDir?: string): Promise<string[]> {
  const removed: string[] = [];
  if (binDir && existsSync(join(binDir, 'kube-proxy'))) {
    await run(join(binDir, 'kube-proxy'), ['--cleanup', '--proxy-mode=iptables'], { timeoutMs: 30_000 });
  }
  for (const tool of ['iptables', 'ip6tables'] as const) {
    removed.push(...(await removeChains(tool, /^(AMBIT|KUBE)-/)));
  }
  return removed;
}

async function allBinDirs(): Promise<string[]> {
  const base = binCacheDir;
  try {
    return (await readdir(base)).map((d) => join(base, d));
  } catch {
    return [];
  }
}

/**
 * Processes of the local cluster kept in `stateDir`: control-plane programs and node agents whose command line
 * names that state dir, and this repository's supervisor. Another checkout's cluster (another state dir, e.g. a
 * CI rehearsal in its own network namespace) is left alone.
 */
async function clusterProcesses(binDirs: string[], stateDir: string): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  const ownSupervisor = `${fileURLToPath(new URL('../cli.js', import.meta.url))} supervise`;
  for (const p of await listProcesses()) {
    if (p.pid === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8')).split('\0').join(' ');
      const fromBin = binDirs.some((d) => p.exe.startsWith(`${d}/`));
      const agentOrSupervisor = /test\/cluster\/dist\/src\/(node\/main|cli)\.js (--config|supervise)/.test(cmdline);
      if ((fromBin || agentOrSupervisor) && cmdline.includes(stateDir)) out.push(p);
      else if (cmdline.includes(ownSupervisor)) out.push(p);
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Best-effort removal of anything a local cluster left behind on this machine (a supervisor or test that
 * died). Returns what it removed. It does not know which cluster made what, so it removes every ambit-named
 * thing: netns ambit-* (except pods of another node agent attached to another bridge), bridge ambit0, AMBIT-*
 * and KUBE-* chains, mounts under the state dir. Processes: those from a Kubernetes bin dir of the cache (and
 * node agents) whose command line names this state dir, this repository's supervisor, plus whatever runs in the
 * ambit-* namespaces. Processes of another state dir are left alone.
 */
export async function cleanupLeftovers(opts: { stateDir?: string } = {}): Promise<string[]> {
  const removed: string[] = [];
  const binDirs = await allBinDirs();
  const stateDir = opts.stateDir ?? defaultStateDir;
  removed.push(...(await teardownRealNodes(stateDir)));
  const procs = await clusterProcesses(binDirs, stateDir);
  if (procs.length) {
    await killPids(procs.map((p) => p.pid));
    removed.push(...procs.map((p) => `process ${p.pid} ${p.exe}`));
  }
  removed.push(...(await deleteNetns()));
  removed.push(...(await unmountUnder(stateDir)));
  removed.push(...(await removeClusterChains(binDirs.find((d) => existsSync(join(d, 'kube-proxy'))))));
  removed.push(...(await teardownHostNetwork(undefined)));
  if (await removeStateDir(stateDir)) removed.push(`state dir ${stateDir}`);
  await removeMachineLockOf(stateDir);
  return removed;
}

/**
 * Remove the state dir, but only once nothing is mounted under it (a recursive delete through a bind mount
 * would delete the mount's source). Returns whether it removed something.
 */
export async function removeStateDir(stateDir: string): Promise<boolean> {
  if (!existsSync(stateDir)) return false;
  await unmountUnder(stateDir);
  const left = await mountsUnder(stateDir);
  if (left.length) throw new Error(`not removing ${stateDir}: still mounted: ${left.join(', ')}`);
  await rm(stateDir, { recursive: true, force: true });
  return true;
}

/** Network namespaces whose veth peers sit on `bridge` (the pods of the cluster that owns the bridge). */
export async function netnsOnBridge(bridge: string): Promise<string[]> {
  const links = await run('ip', ['-j', 'link', 'show', 'master', bridge]);
  if (links.code !== 0) return [];
  const ids = new Set<number>();
  for (const l of JSON.parse(links.stdout || '[]') as Array<{ link_netnsid?: number }>) {
    if (typeof l.link_netnsid === 'number') ids.add(l.link_netnsid);
  }
  if (ids.size === 0) return [];
  const names: string[] = [];
  for (const line of (await run('ip', ['netns', 'list'])).stdout.split('\n')) {
    const m = /^(\S+) \(id: (\d+)\)/.exec(line.trim());
    if (m && ids.has(Number(m[2]))) names.push(m[1]!);
  }
  return names;
}

/** Delete the named network namespaces, killing the processes inside first. */
export async function deleteNamedNetns(names: Iterable<string>): Promise<string[]> {
  const removed: string[] = [];
  const existing = new Set(await listNetns(''));
  for (const ns of new Set(names)) {
    if (!existing.has(ns)) continue;
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').map(Number).filter((n) => n > 0);
    if (pids.length) await killPids(pids, 1000);
    if ((await run('ip', ['netns', 'delete', ns])).code === 0) removed.push(`netns ${ns}`);
  }
  return removed;
}

/** Processes (any executable) whose command line mentions `dir`: the components and node agents of a cluster. */
export async function processesMentioning(dir: string): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const p of await listProcesses()) {
    if (p.pid === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmdline.includes(dir)) out.push(p);
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Remove what an earlier cluster with this state dir left behind (its supervisor died): its processes, the pod
 * namespaces on its bridge, chains, bridge, mounts, state dir. Unlike cleanupLeftovers() it leaves alone what
 * other clusters on the machine (e.g. a developer's, on another bridge) own.
 */
export async function cleanupStateDir(stateDir: string, binDir?: string): Promise<string[]> {
  const removed: string[] = [];
  removed.push(...(await teardownRealNodes(stateDir)));
  const procs = await processesMentioning(stateDir);
  if (procs.length) {
    await killPids(procs.map((p) => p.pid));
    removed.push(...procs.map((p) => `process ${p.pid} ${p.exe}`));
  }
  removed.push(...(await deleteNamedNetns(await netnsOnBridge('ambit0'))));
  removed.push(...(await unmountUnder(stateDir)));
  removed.push(...(await removeClusterChains(binDir)));
  removed.push(...(await teardownHostNetwork(undefined)));
  if (await removeStateDir(stateDir)) removed.push(`state dir ${stateDir}`);
  await removeMachineLockOf(stateDir);
  return removed;
}

/** Remove the machine lock if it names `stateDir` or a process that is gone. */
export async function removeMachineLockOf(stateDir: string): Promise<void> {
  try {
    const lock = JSON.parse(readFileSync(machineLockFile, 'utf8')) as { pid: number; stateDir: string };
    if (lock.stateDir === stateDir || !isAlive(lock.pid)) await rm(machineLockFile, { force: true });
  } catch {
    /* no lock */
  }
}
