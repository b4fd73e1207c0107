// Finding a running pod's network namespace from /proc (the agent runs with hostPID), for pods the agent did not see
// through a CNI ADD: pods that existed before it started, after a restart or a node reboot, or whose namespace was
// labelled later. A pod's processes sit in a cgroup whose path names the pod UID, for both kubelet cgroup drivers and
// both cgroup versions:
//   cgroupfs: 4:memory:/kubepods/besteffort/pod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/<container id>
//   systemd:  0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_aaaa_4bbb_8ccc_0123456789ab.slice/cri-containerd-<id>.scope
// Any of its processes (the sandbox's pause first of all) holds the pod's netns at /proc/<pid>/ns/net; hostNetwork
// pods hold the host's, which is refused.
import fs from 'node:fs';
import path from 'node:path';

const UID_RE = /(?:^|[/\-.])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?=\/|$)/i;

/** Pod UIDs (dashed, lower case) named by the lines of a /proc/<pid>/cgroup file; malformed lines are skipped. */
export function podUidsFromCgroup(content: string): string[] {
  const uids = new Set<string>();
  for (const line of content.split('\n')) {
    // hierarchy-ID:controller-list:cgroup-path (v2: "0::/path"); the path may itself contain ':'.
    const m = /^\d+:[^:]*:(.*)$/.exec(line.trim());
    if (!m) continue;
    const u = UID_RE.exec(m[1]!);
    if (u) uids.add(u[1]!.replace(/_/g, '-').toLowerCase());
  }
  return [...uids];
}

export interface ProcScanOptions {
  /** Default /proc (the host's, with hostPID). */
  procRoot?: string;
  /** nsfs inode of the host network namespace (default: this process's, which is the host's with hostNetwork). */
  hostNetnsInode?: number;
}

function inodeOf(p: string): number | undefined {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
}

/**
 * `/proc/<pid>/ns/net` of a process of pod `uid` whose netns is not the host's; undefined when none runs.
 * Lowest pid first (the sandbox's pause process normally starts before the containers).
 */
export function findPodNetns(uid: string, opts: ProcScanOptions = {}): string | undefined {
  const proc = opts.procRoot ?? '/proc';
  const want = uid.toLowerCase();
  const host = opts.hostNetnsInode ?? inodeOf('/proc/self/ns/net');
  let pids: number[];
  try {
    pids = fs
      .readdirSync(proc)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let cgroup: string;
    try {
      cgroup = fs.readFileSync(path.join(proc, String(pid), 'cgroup'), 'utf8');
    } catch {
      continue; // exited meanwhile, or not readable
    }
    if (!podUidsFromCgroup(cgroup).includes(want)) continue;
    const ns = path.join(proc, String(pid), 'ns', 'net');
    const ino = inodeOf(ns);
    if (ino === undefined || ino === host) continue;
    return ns;
  }
  return undefined;
}
