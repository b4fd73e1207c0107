// The file-system side of conflist.ts: find the node's primary CNI config in the (mounted) conf dir, insert or remove
// our entry atomically, and tell the caller what happened (for logs and readiness).
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE_RE, CniConfigError, hasPlugin, insertPlugin, primaryConfigFile, removePlugin } from './conflist.js';
import { readIfExists, writeFileAtomic } from './fsutil.js';

export type EnsureResult =
  | { state: 'no-config' }
  | { state: 'present'; file: string }
  | { state: 'inserted'; file: string; replaced?: string };

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CniConfigError(`CNI config dir ${dir} does not exist: mount the node's CNI config dir (host /etc/cni/net.d by default) there`);
    }
    throw e;
  }
}

/**
 * Makes the primary config carry our entry. `no-config`: the primary CNI has not written its config yet (the caller
 * waits for it, as Istio does). Throws {@link CniConfigError} when the primary config is garbage.
 */
export function ensurePluginInConfig(confDir: string, entry: Record<string, unknown>): EnsureResult {
  const primary = primaryConfigFile(listDir(confDir));
  if (!primary) return { state: 'no-config' };
  const file = path.join(confDir, primary);
  const raw = readIfExists(file);
  if (raw === undefined) return { state: 'no-config' }; // removed between readdir and read
  const r = insertPlugin(primary, raw, entry);
  if (!r.changed) return { state: 'present', file };
  const target = path.join(confDir, r.fileName);
  writeFileAtomic(target, r.content, fs.statSync(file).mode & 0o777);
  if (r.replaces) {
    fs.rmSync(path.join(confDir, r.replaces), { force: true });
    return { state: 'inserted', file: target, replaced: file };
  }
  return { state: 'inserted', file: target };
}

/** True when the primary config holds our entry as written by {@link ensurePluginInConfig}. */
export function pluginInConfig(confDir: string, entry: Record<string, unknown>): boolean {
  try {
    const primary = primaryConfigFile(fs.readdirSync(confDir));
    if (!primary) return false;
    const raw = readIfExists(path.join(confDir, primary));
    return raw !== undefined && hasPlugin(primary, raw, entry);
  } catch {
    return false;
  }
}

/** Removes our entry from every config file in the dir; returns the files changed. Garbage files are skipped. */
export function removePluginFromConfigs(confDir: string): string[] {
  const changed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(confDir);
  } catch {
    return changed;
  }
  for (const name of names.filter((n) => !n.startsWith('.') && CONFIG_FILE_RE.test(n))) {
    const file = path.join(confDir, name);
    const raw = readIfExists(file);
    if (raw === undefined) continue;
    try {
      const r = removePlugin(name, raw);
      if (!r.changed) continue;
      writeFileAtomic(file, r.content, fs.statSync(file).mode & 0o777);
      changed.push(file);
    } catch (e) {
      if (!(e instanceof CniConfigError)) throw e;
    }
  }
  return changed;
}
