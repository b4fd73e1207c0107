// Processes and mounts: listing them, and removing them (SIGTERM then SIGKILL; lazy unmounts, deepest first). The
// primitives both the control plane's cleanup and the real nodes' teardown use.
import { readFileSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { run, sleep } from './exec.js';

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

/** Whether `pid` runs (a zombie, killed but not yet reaped, does not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}
const alive = isAlive;

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

