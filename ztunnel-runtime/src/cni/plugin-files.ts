// Putting the plugin on the host: the host has no Node, so the image's Node binary and the plugin's compiled JS
// (the plugin/ folder plus the one module it imports, inpod/enrollment.js) are copied to <binDir>/ambit-cni.d/, and
// <binDir>/ambit-cni is a tiny sh wrapper that execs them. Node is dynamically linked (glibc, libstdc++), which a
// node's OS may lack or have in another version, so the shared libraries a fresh Node maps (read from its
// /proc/self/maps) and its dynamic loader are copied to ambit-cni.d/lib/ too, and the wrapper starts Node through
// that loader with --library-path: the plugin depends on nothing of the host but the kernel and /bin/sh.
// Every write is temp + rename; unchanged files are not rewritten (the runtime may be executing them).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileAtomicIfChanged, readIfExists, writeFileAtomic } from './fsutil.js';
import { PLUGIN_TYPE } from './conflist.js';

/** The compiled files the plugin needs, relative to the compiled `src/` dir (a test checks its import closure). */
export const PLUGIN_FILES = [
  'cni/plugin/main.js',
  'cni/plugin/plugin.js',
  'cni/plugin/cni.js',
  'cni/plugin/config.js',
  'cni/plugin/agent-client.js',
  'cni/plugin/kube.js',
  'inpod/enrollment.js',
] as const;

/** The compiled `src/` dir this module lives in (dist/src). */
export const COMPILED_SRC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PLUGIN_DIR_NAME = `${PLUGIN_TYPE}.d`;

/**
 * The wrapper: finds its files next to itself, so it works whatever the host's bin dir is. With `loader` (the
 * basename of the copied dynamic loader in ambit-cni.d/lib), Node runs through it on the copied libraries.
 */
export function wrapperScript(loader?: string): string {
  const node = loader ? `"$d/lib/${loader}" --library-path "$d/lib" "$d/node"` : '"$d/node"';
  return [
    '#!/bin/sh',
    '# Ambit\'s chained CNI plugin, installed by the istio-cni-node DaemonSet (removed when it is uninstalled).',
    'case "$0" in */*) d="${0%/*}/' + PLUGIN_DIR_NAME + '" ;; *) d="./' + PLUGIN_DIR_NAME + '" ;; esac',
    `exec ${node} --no-warnings "$d/cni/plugin/main.js" "$@"`,
    '',
  ].join('\n');
}

/** Shared objects named in /proc/<pid>/maps content (absolute paths, deduplicated, in order). */
export function librariesFromMaps(maps: string): string[] {
  const libs = new Set<string>();
  for (const line of maps.split('\n')) {
    const p = line.trim().split(/\s+/)[5];
    if (p && p.startsWith('/') && /\.so(\.\d+)*$/.test(path.basename(p))) libs.add(p);
  }
  return [...libs];
}

/** The dynamic loader among the libraries (glibc's ld-linux-*, musl's ld-musl-*). */
export function loaderOf(libs: readonly string[]): string | undefined {
  return libs.find((l) => /^ld-(linux|musl)/.test(path.basename(l)));
}

/** The shared libraries a fresh `nodeBinary` maps at startup (empty when that cannot be found out). */
export function nodeRuntimeLibraries(nodeBinary: string): string[] {
  const r = spawnSync(nodeBinary, ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/maps','utf8'))"], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? librariesFromMaps(r.stdout) : [];
}

/** `libstdc++.so.6.0.30` -> [`libstdc++.so.6`, `libstdc++.so.6.0`]: the names (SONAMEs) the loader may look for. */
export function sonameAliases(file: string): string[] {
  const m = /^(.*\.so)((?:\.\d+)*)$/.exec(file);
  if (!m) return [];
  const parts = m[2]!.split('.').filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < parts.length - 1; i++) out.push(`${m[1]}.${parts.slice(0, i + 1).join('.')}`);
  if (parts.length > 0) out.push(m[1]!);
  return out.filter((n) => n !== file);
}

function symlinkAtomic(target: string, link: string): boolean {
  try {
    if (fs.readlinkSync(link) === target) return false;
  } catch {
    /* missing or not a link */
  }
  const tmp = `${link}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
  return true;
}

/** Copies the libraries into `libDir` (with SONAME-style aliases as symlinks); returns the paths written. */
function installLibraries(libs: readonly string[], libDir: string): string[] {
  const written: string[] = [];
  fs.mkdirSync(libDir, { recursive: true, mode: 0o755 });
  for (const lib of libs) {
    const name = path.basename(lib);
    const dst = path.join(libDir, name);
    if (copyFileAtomicIfChanged(lib, dst, 0o755)) written.push(dst);
    for (const alias of sonameAliases(name)) {
      if (libs.some((l) => path.basename(l) === alias)) continue; // a real file of that name is copied itself
      if (symlinkAtomic(name, path.join(libDir, alias))) written.push(path.join(libDir, alias));
    }
  }
  return written;
}

export interface PluginFilesOptions {
  /** The host's CNI bin dir as mounted in the agent (e.g. /host/opt/cni/bin). */
  binDir: string;
  /** Where the compiled files are (default {@link COMPILED_SRC_DIR}). */
  sourceDir?: string;
  /** The Node binary to copy (default process.execPath). */
  nodeBinary?: string;
  /** Copy Node's shared libraries and loader and run Node through them (default true). */
  bundleLibraries?: boolean;
}

/** Copies what changed; returns the paths written (empty: everything was already there). */
export function installPluginFiles(opts: PluginFilesOptions): string[] {
  const src = opts.sourceDir ?? COMPILED_SRC_DIR;
  if (!fs.existsSync(opts.binDir)) {
    throw new Error(`CNI bin dir ${opts.binDir} does not exist: mount the node's CNI bin dir (host /opt/cni/bin by default) there`);
  }
  const dir = path.join(opts.binDir, PLUGIN_DIR_NAME);
  const written: string[] = [];
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const nodeBinary = opts.nodeBinary ?? process.execPath;
  if (copyFileAtomicIfChanged(nodeBinary, path.join(dir, 'node'), 0o755)) written.push(path.join(dir, 'node'));
  const libs = opts.bundleLibraries === false ? [] : nodeRuntimeLibraries(nodeBinary);
  const loader = loaderOf(libs);
  if (loader) written.push(...installLibraries(libs, path.join(dir, 'lib')));
  for (const rel of PLUGIN_FILES) {
    const dst = path.join(dir, rel);
    fs.mkdirSync(path.dirname(dst), { recursive: true, mode: 0o755 });
    if (copyFileAtomicIfChanged(path.join(src, rel), dst, 0o644)) written.push(dst);
  }
  // ESM: the copied .js files are modules.
  const pkg = path.join(dir, 'package.json');
  const pkgContent = JSON.stringify({ type: 'module' }) + '\n';
  if (readIfExists(pkg) !== pkgContent) {
    writeFileAtomic(pkg, pkgContent, 0o644);
    written.push(pkg);
  }
  const wrapper = path.join(opts.binDir, PLUGIN_TYPE);
  const script = wrapperScript(loader ? path.basename(loader) : undefined);
  if (readIfExists(wrapper) !== script || (fs.statSync(wrapper).mode & 0o777) !== 0o755) {
    writeFileAtomic(wrapper, script, 0o755);
    written.push(wrapper);
  }
  return written;
}

/** True when the wrapper and the copied files are all there (cheap: existence only). */
export function pluginFilesPresent(binDir: string): boolean {
  const dir = path.join(binDir, PLUGIN_DIR_NAME);
  const wrapper = readIfExists(path.join(binDir, PLUGIN_TYPE));
  const loader = /"\$d\/lib\/([^"]+)" --library-path/.exec(wrapper ?? '')?.[1];
  const needed = [path.join(dir, 'node'), ...PLUGIN_FILES.map((f) => path.join(dir, f)), ...(loader ? [path.join(dir, 'lib', loader)] : [])];
  return wrapper !== undefined && needed.every((f) => fs.existsSync(f));
}

export function removePluginFiles(binDir: string): void {
  fs.rmSync(path.join(binDir, PLUGIN_TYPE), { force: true });
  fs.rmSync(path.join(binDir, PLUGIN_DIR_NAME), { recursive: true, force: true });
}
