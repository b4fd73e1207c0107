// Stopping real nodes and removing what they leave on the machine: their processes (containerd, kubelet, the
// runc shims that daemonize out of our process tree, and every container, found through the node's cgroups and
// mount namespace), the mount namespace with all its mounts, the cgroups, the host folders made as mount points,
// and the kernel settings the kubelet changes at start.
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { killPids, unmountUnder } from '../controlplane/reap.js';
import { NODE_PATHS } from './layout.js';
import { mountNamespaceInode, releaseMountNamespace } from './mountns.js';
import { removeCgroupRoot, tasksUnder } from './cgroups.js';

/** The kubelet sets these at start (container_manager_linux.go, setupKernelTunables): put back at the end. */
export const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];

/** What the machine looked like before the first node started: written to the state dir, read at teardown. */
export interface HostRecord {
  sysctls: Record<string, string>;
  /** Mount points this cluster created on the machine (removed again when empty). */
  createdDirs: string[];
}

const recordFile = (stateDir: string) => join(stateDir, 'nodes', 'host.json');

export async function recordHost(stateDir: string): Promise<HostRecord> {
  const sysctls: Record<string, string> = {};
  for (const k of KUBELET_SYSCTLS) sysctls[k] = (await readFile(`/proc/sys/${k}`, 'utf8')).trim();
  // Every missing folder on the way (mkdir -p makes /etc/cni as well as /etc/cni/net.d), deepest last.
  const createdDirs = new Set<string>();
  for (const p of NODE_PATHS) {
    const missing: string[] = [];
    for (let d: string = p; d !== "/" && !existsSync(d); d = dirname(d)) missing.unshift(d);
    for (const d of missing) createdDirs.add(d);
  }
  const record = { sysctls, createdDirs: [...createdDirs] };
  await writeFile(recordFile(stateDir), JSON.stringify(record, null, 2) + '\n');
  return record;
}

async function processesInMountNs(inode: number): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if ((await readlink(`/proc/${e}/ns/mnt`)) === `mnt:[${inode}]`) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Ends every real node under `stateDir` and removes what they made; returns what it removed. */
export async function teardownRealNodes(stateDir: string): Promise<string[]> {
  const removed: string[] = [];
  const nodesDir = join(stateDir, 'nodes');
  if (!existsSync(nodesDir)) return removed;
  const pins = (await readdir(nodesDir)).filter((f) => f.endsWith('.mnt'));
  for (const pin of pins) {
    const name = pin.slice(0, -'.mnt'.length);
    const nsFile = join(nodesDir, pin);
    const ino = await mountNamespaceInode(nsFile);
    // Containers first (SIGKILL: the apiserver may be gone, nobody waits for a graceful stop), then the node's own.
    const containers = await tasksUnder(`/${name}`);
    if (containers.length) await killPids(containers, 0);
    const own = ino ? await processesInMountNs(ino) : [];
    if (own.length) await killPids(own, 3000);
    if (containers.length + own.length) removed.push(`${containers.length + own.length} processes of node ${name}`);
    await releaseMountNamespace(nsFile);
    const left = await removeCgroupRoot(`/${name}`);
    if (left.length) removed.push(`cgroups of ${name} NOT removed: ${left.slice(0, 3).join(', ')}`);
    else removed.push(`cgroups /${name}`);
  }
  await unmountUnder(nodesDir);
  try {
    const record = JSON.parse(await readFile(recordFile(stateDir), 'utf8')) as HostRecord;
    for (const [k, v] of Object.entries(record.sysctls)) await writeFile(`/proc/sys/${k}`, v).catch(() => undefined);
    for (const d of [...record.createdDirs].reverse()) {
      if (await rmdir(d).then(() => true, () => false)) removed.push(`mount point ${d}`);
    }
  } catch {
    /* no record: nothing was started */
  }
  return removed;
}
