// Installs plugin packages (npm tarballs) into one directory per package version and imports them.
//   <root>/<name>@<version>-<digest>/node_modules/<name>/...      the package
//   <root>/<name>@<version>-<digest>/node_modules/@ambit/plugin-sdk, tsyringe, reflect-metadata
//                                                                  links to the host's copies (one module
//                                                                  instance: tokens and decorators match)
// A tarball comes from a local path, a URL, or the npm registry (`npm pack name@version`); `integrity`
// (SRI, sha512/sha384/sha256) is required and checked before anything is extracted. Dependencies must be pinned
// as a whole tree: bundled in the tarball (covered by its integrity), or locked by an `npm-shrinkwrap.json` in the
// tarball whose every entry carries `resolved` and `integrity` (installed with `npm ci`, which checks each one);
// anything else is refused (UnpinnedDependencies). Versions live side by side, so a new version is prepared
// while the old one keeps serving; `remove` deletes a version's directory. `install` only prepares the files (the
// manager imports them in a sandboxed process); `load` also imports them here, for trusted callers.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { isPluginClass, type PluginClass } from '@ambit/plugin-sdk';

const run = promisify(execFile);

export interface PackageRef {
  name: string;
  version: string;
  /** SRI string, e.g. `sha512-...` (what `npm pack --json` and package-lock.json record). */
  integrity?: string;
  /** http(s) or file URL of the tarball. */
  url?: string;
  /** Local path of the tarball. */
  tarball?: string;
  /** Which export is the plugin class (default: `default`, else the first export that looks like a plugin). */
  export?: string;
}

export class PluginLoadError extends Error {
  constructor(
    readonly reason:
      | 'FetchFailed'
      | 'IntegrityMismatch'
      | 'IntegrityRequired'
      | 'UnpinnedDependencies'
      | 'NotAllowed'
      | 'InstallFailed'
      | 'ImportFailed'
      | 'NoPluginExport'
      | 'InvalidPackage',
    message: string,
  ) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

export interface InstalledPackage {
  ref: PackageRef;
  /** The version's directory (everything the plugin may read is under it, or is a shared host package). */
  dir: string;
  /** The package's own directory and its entry module. */
  pkgDir: string;
  entry: string;
}

export interface LoadedPackage extends InstalledPackage {
  pluginClass: PluginClass;
  module: Record<string, unknown>;
}

export interface LoaderOptions {
  /** Where versions are installed. */
  root: string;
  /** The npm CLI (for registry packages and packages with dependencies). Default `npm`. */
  npm?: string;
  /** Packages linked to the host's copies instead of installed. */
  shared?: string[];
  fetch?: typeof fetch;
  /** The registry for packages without url/tarball and for locked dependencies. Default `https://registry.npmjs.org/`. */
  registry?: string;
  /** Whether a locked dependency's `resolved` URL may be fetched (the policy's sources). Default: any. */
  allowSource?(url: string): boolean;
}

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

const SHARED = ['@ambit/plugin-sdk', 'tsyringe', 'reflect-metadata'];

function safe(s: string): string {
  return s.replace(/[^a-zA-Z0-9._-]/g, '_');
}

export function sri(data: Buffer, algo: 'sha512' | 'sha384' | 'sha256' = 'sha512'): string {
  return `${algo}-${createHash(algo).update(data).digest('base64')}`;
}

export function checkIntegrity(data: Buffer, integrity: string): boolean {
  // An SRI string may list several hashes; one match is enough.
  return integrity
    .trim()
    .split(/\s+/)
    .some((entry) => {
      const i = entry.indexOf('-');
      const algo = entry.slice(0, i) as 'sha512' | 'sha384' | 'sha256';
      if (!['sha512', 'sha384', 'sha256'].includes(algo)) return false;
      return sri(data, algo) === entry;
    });
}

/** The directory of a package as the host resolves it. */
function hostPackageDir(name: string): string | undefined {
  const req = createRequire(import.meta.url);
  try {
    return dirname(req.resolve(`${name}/package.json`));
  } catch {
    // packages whose exports hide package.json: walk up from the entry
    try {
      let d = dirname(req.resolve(name));
      for (let i = 0; i < 6; i++) {
        if (d.endsWith(join('node_modules', name)) || d.endsWith(name.replace('@ambit/', ''))) return d;
        d = dirname(d);
      }
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function sdkDir(): string | undefined {
  // @ambit/plugin-sdk's entry is <dir>/dist/src/index.js
  try {
    const entry = createRequire(import.meta.url).resolve('@ambit/plugin-sdk');
    return resolve(dirname(entry), '..', '..');
  } catch {
    return undefined;
  }
}

export class PackageLoader {
  readonly #loaded = new Map<string, Promise<LoadedPackage>>();
  readonly #installed = new Map<string, Promise<InstalledPackage>>();
  constructor(private readonly opts: LoaderOptions) {}

  get registry(): string {
    return this.opts.registry ?? DEFAULT_REGISTRY;
  }

  /** Fetch, verify and unpack (once) a package version, without running any of its code. */
  install(ref: PackageRef): Promise<InstalledPackage> {
    const dir = this.dirOf(ref);
    let p = this.#installed.get(dir);
    if (!p) {
      p = this.#install(ref, dir);
      this.#installed.set(dir, p);
      p.catch(() => this.#installed.delete(dir));
    }
    return p;
  }

  /** The install directory of a package version. */
  dirOf(ref: PackageRef): string {
    const digest = ref.integrity ? createHash('sha256').update(ref.integrity).digest('hex').slice(0, 12) : 'unpinned';
    return join(this.opts.root, `${safe(ref.name)}@${safe(ref.version)}-${digest}`);
  }

  /** Install (once) and import a package version. Concurrent calls share the work. */
  load(ref: PackageRef): Promise<LoadedPackage> {
    const dir = this.dirOf(ref);
    let p = this.#loaded.get(dir);
    if (!p) {
      p = this.#load(ref, dir);
      this.#loaded.set(dir, p);
      p.catch(() => this.#loaded.delete(dir));
    }
    return p;
  }

  async remove(ref: PackageRef): Promise<void> {
    const dir = this.dirOf(ref);
    this.#loaded.delete(dir);
    this.#installed.delete(dir);
    await rm(dir, { recursive: true, force: true });
  }

  /** Installed version directories (for cleanup and tests). */
  async installed(): Promise<string[]> {
    try {
      return (await readdir(this.opts.root)).sort();
    } catch {
      return [];
    }
  }

  async #install(ref: PackageRef, dir: string): Promise<InstalledPackage> {
    const pkgDir = join(dir, 'node_modules', ref.name);
    const marker = join(dir, '.complete');
    if (!ref.integrity) throw new PluginLoadError('IntegrityRequired', `${ref.name}@${ref.version} has no integrity: set it to the tarball's SRI (the "integrity" npm pack --json prints)`);
    if (!(await exists(marker))) {
      const data = await this.#fetch(ref);
      if (!checkIntegrity(data, ref.integrity)) {
        throw new PluginLoadError('IntegrityMismatch', `integrity mismatch for ${ref.name}@${ref.version}: expected ${ref.integrity}, got ${sri(data)}`);
      }
      await rm(dir, { recursive: true, force: true });
      await mkdir(pkgDir, { recursive: true });
      const tmp = await mkdtemp(join(tmpdir(), 'ambit-plugin-'));
      try {
        const tgz = join(tmp, 'package.tgz');
        await writeFile(tgz, data);
        await run('tar', ['-xzf', tgz, '-C', pkgDir, '--strip-components=1', '--no-same-owner', '--no-same-permissions']);
      } catch (err) {
        throw new PluginLoadError('InstallFailed', `cannot extract ${ref.name}@${ref.version}: ${(err as Error).message}`);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      const manifest = await readManifest(pkgDir);
      if (manifest.name !== ref.name || manifest.version !== ref.version) {
        throw new PluginLoadError('InvalidPackage', `tarball holds ${manifest.name}@${manifest.version}, expected ${ref.name}@${ref.version}`);
      }
      await this.#linkShared(dir);
      await this.#installDependencies(ref, pkgDir, manifest);
      await writeFile(marker, JSON.stringify({ ref, installedAt: new Date().toISOString() }));
    }
    const manifest = await readManifest(pkgDir);
    return { ref, dir, pkgDir, entry: join(pkgDir, entryOf(manifest)) };
  }

  /** Dependencies not shared with the host and not bundled must be locked, entry by entry, by npm-shrinkwrap.json. */
  async #installDependencies(ref: PackageRef, pkgDir: string, manifest: Manifest): Promise<void> {
    const shared = this.opts.shared ?? SHARED;
    const bundled = new Set(manifest.bundleDependencies ?? manifest.bundledDependencies ?? []);
    const needed = Object.keys(manifest.dependencies ?? {}).filter((d) => !shared.includes(d) && !bundled.has(d));
    const missingBundled = [...bundled].filter((d) => !existsSync(join(pkgDir, 'node_modules', d, 'package.json')));
    if (missingBundled.length) throw new PluginLoadError('InvalidPackage', `${ref.name}@${ref.version} declares bundled dependencies it does not contain: ${missingBundled.join(', ')}`);
    if (!needed.length) return;
    const what = `${ref.name}@${ref.version} depends on ${needed.join(', ')}`;
    let lock: Shrinkwrap;
    try {
      lock = JSON.parse(await readFile(join(pkgDir, 'npm-shrinkwrap.json'), 'utf8')) as Shrinkwrap;
    } catch {
      throw new PluginLoadError('UnpinnedDependencies', `${what} without pinning them: bundle them (bundleDependencies) or publish an npm-shrinkwrap.json (npm shrinkwrap) with the package`);
    }
    const entries = Object.entries(lock.packages ?? {}).filter(([path]) => path !== '');
    if ((lock.lockfileVersion ?? 0) < 2 || !entries.length) throw new PluginLoadError('UnpinnedDependencies', `${what}: its npm-shrinkwrap.json must be lockfileVersion 2 or 3 with a "packages" section`);
    const locked = new Set(entries.map(([path]) => path.replace(/^.*node_modules\//, '')));
    const unlocked = needed.filter((d) => !locked.has(d));
    if (unlocked.length) throw new PluginLoadError('UnpinnedDependencies', `${what}: npm-shrinkwrap.json does not lock ${unlocked.join(', ')}`);
    for (const [path, e] of entries) {
      if (e.inBundle || e.link) continue;
      if (!e.resolved || !e.integrity) throw new PluginLoadError('UnpinnedDependencies', `${what}: npm-shrinkwrap.json entry ${path} lacks ${e.resolved ? 'integrity' : 'resolved'}`);
      if (this.opts.allowSource && !this.opts.allowSource(e.resolved)) throw new PluginLoadError('NotAllowed', `${what}: ${path} resolves to ${e.resolved}, which is not an allowed source`);
    }
    try {
      await run(this.opts.npm ?? 'npm', ['ci', '--omit=dev', '--ignore-scripts', '--legacy-peer-deps', '--no-audit', '--no-fund', '--registry', this.registry], { cwd: pkgDir });
    } catch (err) {
      throw new PluginLoadError('InstallFailed', `npm ci of ${needed.join(', ')} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  async #load(ref: PackageRef, dir: string): Promise<LoadedPackage> {
    const installed = await this.#install(ref, dir);
    const mod = await importPackage(installed);
    return { ...installed, pluginClass: pluginExport(mod, ref), module: mod };
  }

  async #fetch(ref: PackageRef): Promise<Buffer> {
    try {
      if (ref.tarball) return await readFile(ref.tarball);
      if (ref.url) {
        if (ref.url.startsWith('file:')) return await readFile(new URL(ref.url));
        const res = await (this.opts.fetch ?? fetch)(ref.url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return Buffer.from(await res.arrayBuffer());
      }
      const tmp = await mkdtemp(join(tmpdir(), 'ambit-pack-'));
      try {
        const { stdout } = await run(this.opts.npm ?? 'npm', ['pack', `${ref.name}@${ref.version}`, '--json', '--ignore-scripts', '--registry', this.registry, '--pack-destination', tmp], { cwd: tmp });
        const info = JSON.parse(stdout) as Array<{ filename: string }>;
        return await readFile(join(tmp, info[0]!.filename));
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    } catch (err) {
      throw new PluginLoadError('FetchFailed', `cannot fetch ${ref.name}@${ref.version}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  async #linkShared(dir: string): Promise<void> {
    for (const name of this.opts.shared ?? SHARED) {
      const target = name === '@ambit/plugin-sdk' ? sdkDir() : hostPackageDir(name);
      if (!target) continue;
      const link = join(dir, 'node_modules', name);
      await mkdir(dirname(link), { recursive: true });
      await rm(link, { recursive: true, force: true });
      await symlink(target, link, 'dir');
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

interface Manifest {
  name: string;
  version: string;
  main?: string;
  exports?: unknown;
  dependencies?: Record<string, string>;
  bundleDependencies?: string[];
  bundledDependencies?: string[];
}

interface Shrinkwrap {
  lockfileVersion?: number;
  packages?: Record<string, { resolved?: string; integrity?: string; inBundle?: boolean; link?: boolean }>;
}

/** Import an installed package here (trusted callers and the sandbox's child process). */
export async function importPackage(p: InstalledPackage): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(p.entry).href)) as Record<string, unknown>;
  } catch (err) {
    throw new PluginLoadError('ImportFailed', `cannot import ${p.ref.name}@${p.ref.version}: ${(err as Error).message}`);
  }
}

/** The plugin class a module exports (`ref.export`, else `default`, else the first plugin-like export). */
export function pluginExport(mod: Record<string, unknown>, ref: Pick<PackageRef, 'name' | 'version' | 'export'>): PluginClass {
  const cls = pickExport(mod, ref.export);
  if (!cls) throw new PluginLoadError('NoPluginExport', `${ref.name}@${ref.version} exports no plugin class${ref.export ? ` named ${ref.export}` : ''}`);
  return cls;
}

async function readManifest(dir: string): Promise<Manifest> {
  try {
    return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
  } catch (err) {
    throw new PluginLoadError('InvalidPackage', `no readable package.json: ${(err as Error).message}`);
  }
}

function entryOf(m: Manifest): string {
  const e = m.exports as unknown;
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return pick(o['.']) ?? pick(o.import) ?? pick(o.node) ?? pick(o.default);
    }
    return undefined;
  };
  return pick(e) ?? m.main ?? 'index.js';
}

function pickExport(mod: Record<string, unknown>, name?: string): PluginClass | undefined {
  if (name) return isPluginClass(mod[name]) ? (mod[name] as PluginClass) : undefined;
  if (isPluginClass(mod.default)) return mod.default as PluginClass;
  for (const v of Object.values(mod)) if (isPluginClass(v)) return v as PluginClass;
  return undefined;
}
