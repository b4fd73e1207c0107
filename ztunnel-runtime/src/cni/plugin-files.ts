// Putting the plugin on the host: the host has no Node, so the image's Node binary and the plugin's compiled JS
// (the plugin/ folder plus the one module it imports, inpod/enrollment.js) are copied to <binDir>/ambit-cni.d/, and
// <binDir>/ambit-cni is a tiny sh wrapper that execs them. Every write is temp + rename; unchanged files are not
// rewritten (the runtime may be executing them).
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

/** The wrapper: finds its files next to itself, so it works whatever the host's bin dir is. */
export function wrapperScript(): string {
  return [
    '#!/bin/sh',
    '# Ambit\'s chained CNI plugin, installed by the istio-cni-node DaemonSet (removed when it is uninstalled).',
    'case "$0" in */*) d="${0%/*}/' + PLUGIN_DIR_NAME + '" ;; *) d="./' + PLUGIN_DIR_NAME + '" ;; esac',
    'exec "$d/node" --no-warnings "$d/cni/plugin/main.js" "$@"',
    '',
  ].join('\n');
}

export interface PluginFilesOptions {
  /** The host's CNI bin dir as mounted in the agent (e.g. /host/opt/cni/bin). */
  binDir: string;
  /** Where the compiled files are (default {@link COMPILED_SRC_DIR}). */
  sourceDir?: string;
  /** The Node binary to copy (default process.execPath). */
  nodeBinary?: string;
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
  if (copyFileAtomicIfChanged(opts.nodeBinary ?? process.execPath, path.join(dir, 'node'), 0o755)) written.push(path.join(dir, 'node'));
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
  if (readIfExists(wrapper) !== wrapperScript() || (fs.statSync(wrapper).mode & 0o777) !== 0o755) {
    writeFileAtomic(wrapper, wrapperScript(), 0o755);
    written.push(wrapper);
  }
  return written;
}

/** True when the wrapper and the copied files are all there (cheap: existence only). */
export function pluginFilesPresent(binDir: string): boolean {
  const dir = path.join(binDir, PLUGIN_DIR_NAME);
  return [path.join(binDir, PLUGIN_TYPE), path.join(dir, 'node'), ...PLUGIN_FILES.map((f) => path.join(dir, f))].every((f) => fs.existsSync(f));
}

export function removePluginFiles(binDir: string): void {
  fs.rmSync(path.join(binDir, PLUGIN_TYPE), { force: true });
  fs.rmSync(path.join(binDir, PLUGIN_DIR_NAME), { recursive: true, force: true });
}
