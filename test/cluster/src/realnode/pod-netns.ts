// For tests that look inside a pod's network namespace from the machine (iptables-save, ss): the namespace of a
// pod on a real node of this cluster, found through the pod's cgroup (`.../kubepods/.../pod<uid>/<container>`)
// and any of its processes. Test-only: the product finds namespaces through its CNI plugin and node agent.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const PIDS = '/sys/fs/cgroup/pids';

async function findPodCgroup(dir: string, needle: string, depth = 0): Promise<string | undefined> {
  if (depth > 6) return undefined;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (e.name === needle) return join(dir, e.name);
    const found = await findPodCgroup(join(dir, e.name), needle, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** `/proc/<pid>/ns/net` of a process of the pod (throws when the pod runs on no real node here). */
export async function podNetnsPath(uid: string): Promise<string> {
  const roots = (await readdir(PIDS, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name.startsWith('ambit-node-'));
  for (const r of roots) {
    const pod = await findPodCgroup(join(PIDS, r.name), `pod${uid}`);
    if (!pod) continue;
    const stack = [pod];
    while (stack.length) {
      const d = stack.pop()!;
      const pid = (await readFile(join(d, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').find((l) => Number(l) > 0);
      if (pid) return `/proc/${pid}/ns/net`;
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) stack.push(join(d, e.name));
    }
  }
  throw new Error(`pod ${uid} has no running process on a node of this cluster`);
}
