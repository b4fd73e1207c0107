// Mount points the agent has to create on the host file system (e.g. /var/run/secrets/kubernetes.io/...): the
// bind mounts themselves live in each container's private mount namespace, but the directory (or file) they sit on
// is shared with the host and with every other virtual node on this machine. Each created path is reference
// counted in /run/ambit/mountpoints (a lock directory serializes the agents), and removed with its last user:
// removing a directory that is a mount point in another namespace would silently unmount it there.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const defaultRegistryDir = '/run/ambit/mountpoints';

interface Entry {
  path: string;
  kind: 'dir' | 'file';
  owners: string[];
  /** Per owner, a directory that exists as long as the owner is alive (the pod's state dir). */
  liveness?: Record<string, string>;
}

/** Owners whose liveness directory is gone (an agent that was killed, a cluster removed wholesale) do not count. */
function liveOwners(e: Entry): string[] {
  return e.owners.filter((o) => !e.liveness?.[o] || existsSync(e.liveness[o]!));
}

export class MountPoints {
  constructor(private readonly registry = defaultRegistryDir) {}

  private key(path: string): string {
    return join(this.registry, `${createHash('sha1').update(path).digest('hex').slice(0, 20)}.json`);
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(this.registry, { recursive: true });
    const lock = join(this.registry, '.lock');
    for (let i = 0; ; i++) {
      try {
        await mkdir(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        try {
          const st = await stat(lock);
          if (Date.now() - st.mtimeMs > 15_000) await rmdir(lock).catch(() => undefined);
        } catch {
          /* released meanwhile */
        }
        await sleep(Math.min(5 + i, 50));
      }
    }
    try {
      return await fn();
    } finally {
      await rmdir(lock).catch(() => undefined);
    }
  }

  private async read(path: string): Promise<Entry | undefined> {
    try {
      return JSON.parse(await readFile(this.key(path), 'utf8')) as Entry;
    } catch {
      return undefined;
    }
  }

  /** Make sure `path` exists (a directory, or an empty file for a file bind mount), creating what is missing. */
  async acquire(owner: string, target: string, kind: 'dir' | 'file', livenessDir?: string): Promise<void> {
    const path = resolve(target);
    await this.withLock(async () => {
      // Every missing ancestor, shallowest first, then the target itself.
      const chain: string[] = [];
      for (let p = path; p !== '/'; p = dirname(p)) chain.unshift(p);
      for (const p of chain) {
        const isTarget = p === path;
        const entry = await this.read(p);
        if (entry) {
          entry.owners = liveOwners(entry);
          if (!entry.owners.includes(owner)) entry.owners.push(owner);
          if (livenessDir) entry.liveness = { ...Object.fromEntries(Object.entries(entry.liveness ?? {}).filter(([o]) => entry.owners.includes(o))), [owner]: livenessDir };
          await writeFile(this.key(p), JSON.stringify(entry));
          if (!existsSync(p)) await this.create(p, entry.kind);
          continue;
        }
        if (existsSync(p)) continue;
        const k: 'dir' | 'file' = isTarget ? kind : 'dir';
        await this.create(p, k);
        await writeFile(this.key(p), JSON.stringify({ path: p, kind: k, owners: [owner], ...(livenessDir ? { liveness: { [owner]: livenessDir } } : {}) } satisfies Entry));
      }
    });
  }

  private async create(p: string, kind: 'dir' | 'file'): Promise<void> {
    if (kind === 'dir') await mkdir(p, { recursive: true });
    else await writeFile(p, '', { flag: 'a' });
  }

  /** Remove the paths whose every owner is gone (see liveness). */
  sweep(): Promise<string[]> {
    return this.release(undefined);
  }

  /** Drop every reference `owner` holds; remove the paths nobody (alive) references any more (deepest first). */
  async release(owner: string | undefined): Promise<string[]> {
    const removed: string[] = [];
    if (!existsSync(this.registry)) return removed;
    await this.withLock(async () => {
      const entries: Entry[] = [];
      for (const f of await readdir(this.registry)) {
        if (!f.endsWith('.json')) continue;
        try {
          entries.push(JSON.parse(await readFile(join(this.registry, f), 'utf8')) as Entry);
        } catch {
          /* half-written: ignore */
        }
      }
      entries.sort((a, b) => b.path.length - a.path.length);
      for (const e of entries) {
        const before = e.owners.length;
        e.owners = liveOwners(e).filter((o) => o !== owner);
        if (e.owners.length === before) continue;
        if (e.owners.length > 0) {
          await writeFile(this.key(e.path), JSON.stringify(e));
          continue;
        }
        try {
          if (e.kind === 'dir') await rmdir(e.path);
          else if (existsSync(e.path) && statSync(e.path).size === 0) await unlink(e.path);
          removed.push(e.path);
        } catch {
          /* not empty (something else put files there) or already gone: leave it */
        }
        await rm(this.key(e.path), { force: true });
      }
    });
    return removed;
  }
}
