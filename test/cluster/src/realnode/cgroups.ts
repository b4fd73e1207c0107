// The cgroup parent of a real node (the kubelet's cgroupRoot) in every cgroup v1 hierarchy: the kubelet checks
// that it exists in cpu, cpuacct, cpuset and memory, and puts every pod under it. Removing it at the end also
// finds whatever the node left running (its tasks).
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';

/** The v1 hierarchies mounted here (cpu, memory, ..., systemd), not the v2 `unified` one. */
export async function v1Hierarchies(root = CGROUP_FS): Promise<string[]> {
  if (!existsSync(join(root, 'cpu'))) return [];
  const names = await readdir(root, { withFileTypes: true });
  return names.filter((d) => d.isDirectory() && d.name !== 'unified').map((d) => join(root, d.name));
}

export async function createCgroupRoot(cgroupRoot: string): Promise<void> {
  for (const h of await v1Hierarchies()) {
    const dir = join(h, cgroupRoot);
    await mkdir(dir, { recursive: true });
    if (h.endsWith('/cpuset')) {
      // A new cpuset cgroup starts with no CPUs and no memory nodes: tasks could not join it.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        await writeFile(join(dir, f), (await readFile(join(h, f), 'utf8')).trim());
      }
    }
  }
}

/** Every pid in the node's cgroups (any depth, any hierarchy). */
export async function tasksUnder(cgroupRoot: string): Promise<number[]> {
  const pids = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      for (const l of (await readFile(join(dir, 'tasks'), 'utf8')).split('\n')) if (Number(l) > 0) pids.add(Number(l));
    } catch {
      /* gone meanwhile */
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name));
  };
  for (const h of await v1Hierarchies()) await walk(join(h, cgroupRoot));
  return [...pids];
}

/** Removes the node's cgroups deepest first; returns the ones that could not go (tasks still in them). */
export async function removeCgroupRoot(cgroupRoot: string): Promise<string[]> {
  const left: string[] = [];
  const remove = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await remove(join(dir, e.name));
    await rmdir(dir).catch(() => left.push(dir));
  };
  for (const h of await v1Hierarchies()) await remove(join(h, cgroupRoot));
  return left;
}
