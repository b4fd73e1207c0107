// Teardown helpers and the best-effort cleanupLeftovers(): processes from the Kubernetes bin dirs, network
// namespaces ambit-*, the bridge, AMBIT-*/KUBE-* chains, mounts under the state dir.
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, sleep } from './exec.js';
import { listNetns, removeChains, teardownHostNetwork } from './network.js';
import { cacheRoot, defaultStateDir, machineLockFile } from './paths.js';

export interface ProcInfo {
  pid: number;
  ppid: number;
  exe: string;
}

export async function listProcesses(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const exe = (await readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.push({ pid, ppid, exe });
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return out;
}

/** Processes whose executable lives under `dir`. */
export async function processesFrom(dir: string): Promise<ProcInfo[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return (await listProcesses()).filter((p) => p.exe.startsWith(prefix));
}

/** Descendants of `root` (not including it). */
export function descendants(all: ProcInfo[], root: number): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: ProcInfo[] = [];
  const stack = [root];
  while (stack.length) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c.pid);
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL whatever is still alive after `graceMs`. */
export async function killPids(pids: number[], graceMs = 3000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const hard = Date.now() + 2000;
  while (pids.some(alive) && Date.now() < hard) await sleep(50);
}

export async function deleteNetns(prefix = 'ambit-'): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNetns(prefix)) {
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').map(Number).filter((n) => n > 0);
    if (pids.length) await killPids(pids, 1000);
    if ((await run('ip', ['netns', 'delete', ns])).code === 0) removed.push(`netns ${ns}`);
  }
  return removed;
}

function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map(unescapeMount)
    .filter((m) => m === dir || m.startsWith(prefix));
}

export async function unmountUnder(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (let round = 0; round < 5; round++) {
    const mounts = (await mountsUnder(dir)).sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const m of mounts) {
      if ((await run('umount', ['-l', m])).code === 0) removed.push(`mount ${m}`);
    }
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
  const base = join(cacheRoot, 'bin');
  try {
    return (await readdir(base)).map((d) => join(base, d));
  } catch {
    return [];
  }
}

/**
 * Best-effort removal of anything a cluster left behind on this machine. Returns what it removed.
 * Unlike Cluster.stop(), this does not know which cluster made what: it kills every process started from a
 * Kubernetes bin dir of the cache and removes every ambit-named thing.
 */
export async function cleanupLeftovers(opts: { stateDir?: string } = {}): Promise<string[]> {
  const removed: string[] = [];
  const binDirs = await allBinDirs();
  const procs: ProcInfo[] = [];
  for (const d of binDirs) procs.push(...(await processesFrom(d)));
  // Virtual node agents and the supervisor are node processes; find them by their command line.
  for (const p of await listProcesses()) {
    try {
      const cmdline = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8')).split('\0').join(' ');
      if (/test\/cluster\/dist\/src\/(node\/main|cli)\.js (--config|supervise)/.test(cmdline) && p.pid !== process.pid) procs.push(p);
    } catch {
      /* gone */
    }
  }
  if (procs.length) {
    await killPids(procs.map((p) => p.pid));
    removed.push(...procs.map((p) => `process ${p.pid} ${p.exe}`));
  }
  removed.push(...(await deleteNetns()));
  const stateDir = opts.stateDir ?? defaultStateDir;
  removed.push(...(await unmountUnder(stateDir)));
  removed.push(...(await removeClusterChains(binDirs.find((d) => existsSync(join(d, 'kube-proxy'))))));
  removed.push(...(await teardownHostNetwork(undefined)));
  if (await removeStateDir(stateDir)) removed.push(`state dir ${stateDir}`);
  if (existsSync(machineLockFile)) await rm(machineLockFile, { force: true });
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
