// A node's mount namespace, pinned to a file so its processes can be started one by one (nsenter --mount) and so
// that it outlives none of them: unmounting the file and ending the node's processes makes it disappear with every
// mount the node made (overlay roots, netns pins, tmpfs volumes). Propagation: the machine's mounts reach the node
// (slave), the node's never reach the machine; inside the node mounts are shared so hostPath volumes with
// HostToContainer or Bidirectional propagation work as on a real node.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run, runOk } from '../controlplane/exec.js';

async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === path);
}

/**
 * Creates the namespace pinned at `nsFile` and bind-mounts each `[source, target]` inside it. A pin file needs a
 * private parent mount, so the folder holding it is bind-mounted onto itself and made private first.
 */
export async function createMountNamespace(nsFile: string, binds: Array<[string, string]>): Promise<void> {
  const dir = dirname(nsFile);
  await mkdir(dir, { recursive: true });
  if (!(await isMountPoint(dir))) {
    await runOk('mount', ['--bind', dir, dir]);
    await runOk('mount', ['--make-private', dir]);
  }
  await writeFile(nsFile, '');
  await runOk('unshare', [`--mount=${nsFile}`, '--propagation', 'slave', 'true']);
  const script = ['mount --make-rshared /'];
  for (const [source, target] of binds) {
    script.push(`mount --bind ${shellQuote(source)} ${shellQuote(target)}`);
  }
  await runOk('nsenter', [`--mount=${nsFile}`, '--', 'sh', '-ec', script.join('\n')]);
}

/** argv that runs `cmd args` inside the namespace (nsenter execs it: the pid is the program's own). */
export function inMountNamespace(nsFile: string, cmd: string, args: string[]): { cmd: string; args: string[] } {
  return { cmd: 'nsenter', args: [`--mount=${nsFile}`, '--', cmd, ...args] };
}

/** The namespace's identity (nsfs inode), to find every process that lives in it. */
export async function mountNamespaceInode(nsFile: string): Promise<number | undefined> {
  const r = await run('stat', ['-L', '-c', '%i', nsFile]);
  const ino = Number(r.stdout.trim());
  return r.code === 0 && ino > 0 ? ino : undefined;
}

/** Unpins the namespace (it ends once its last process has). */
export async function releaseMountNamespace(nsFile: string): Promise<void> {
  if (existsSync(nsFile)) await run('umount', ['-l', nsFile]);
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
