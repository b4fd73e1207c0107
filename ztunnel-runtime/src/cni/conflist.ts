// Inserting Ambit's chained plugin into the node's primary CNI configuration (and taking it out again), as Istio's
// install-cni does: the primary config is the first `*.conflist` / `*.conf` / `*.json` in name order (what libcni,
// and so containerd and CRI-O, load); our entry is appended to its `plugins`; a single-plugin `.conf` (libcni reads
// `.json` the same way) becomes a `.conflist` of the same base name.
// Pure functions over file names and contents: the file system side is in config-file.ts.

export const PLUGIN_TYPE = 'ambit-cni';

/** A CNI config that cannot be read or changed; the message names the file and what to do. */
export class CniConfigError extends Error {
  override name = 'CniConfigError';
}

/** Extensions libcni loads from a CNI config dir. */
export const CONFIG_FILE_RE = /\.(conflist|conf|json)$/;

/** The file a CNI runtime would load: first `*.conflist` / `*.conf` / `*.json` by name (hidden and temp files skipped). */
export function primaryConfigFile(names: readonly string[]): string | undefined {
  return names
    .filter((n) => !n.startsWith('.') && CONFIG_FILE_RE.test(n))
    .sort()[0];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a `.conf` / `.conflist` into the conflist shape (a `.conf` is wrapped), validating what we rely on. */
export function parseConfig(fileName: string, raw: string): { list: Json & { plugins: Json[] }; wasSingle: boolean } {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    throw new CniConfigError(`${fileName}: not valid JSON (${(e as Error).message}); fix or remove the file so the node has a usable CNI config`);
  }
  if (!isObject(doc)) throw new CniConfigError(`${fileName}: expected a JSON object; fix or remove the file`);
  if (Array.isArray(doc.plugins)) {
    const plugins = doc.plugins as unknown[];
    plugins.forEach((p, i) => {
      if (!isObject(p) || typeof p.type !== 'string') throw new CniConfigError(`${fileName}: plugins[${i}] has no "type"; fix the file`);
    });
    return { list: doc as Json & { plugins: Json[] }, wasSingle: false };
  }
  if (doc.plugins !== undefined) throw new CniConfigError(`${fileName}: "plugins" must be an array; fix the file`);
  if (typeof doc.type !== 'string') throw new CniConfigError(`${fileName}: neither a conflist ("plugins") nor a plugin config ("type"); fix or remove the file`);
  const { cniVersion, name, ...plugin } = doc;
  return { list: { ...(cniVersion !== undefined ? { cniVersion } : {}), ...(name !== undefined ? { name } : {}), plugins: [plugin] }, wasSingle: true };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function render(list: Json): string {
  return JSON.stringify(list, null, 2) + '\n';
}

export interface InsertResult {
  /** The file to write (a `.conf` / `.json` turns into `<base>.conflist`). */
  fileName: string;
  content: string;
  /** False when the file already holds exactly our entry, last: nothing to write. */
  changed: boolean;
  /** Set when a `.conf` / `.json` was converted: the old file to delete after writing the new one. */
  replaces?: string;
}

/**
 * Appends `entry` (whose `type` is {@link PLUGIN_TYPE}) to the config's plugins, replacing any older entry of ours
 * (wherever it is), so applying twice changes nothing. Throws {@link CniConfigError} on garbage.
 */
export function insertPlugin(fileName: string, raw: string, entry: Json): InsertResult {
  const { list, wasSingle } = parseConfig(fileName, raw);
  const others = list.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  const last = list.plugins[list.plugins.length - 1];
  const already = !wasSingle && others.length === list.plugins.length - 1 && last !== undefined && sameJson(last, entry);
  const out = { ...list, plugins: [...others, entry] };
  if (!wasSingle) return { fileName, content: already ? raw : render(out), changed: !already };
  const conflist = fileName.replace(/\.(conf|json)$/, '.conflist');
  return { fileName: conflist, content: render(out), changed: true, replaces: fileName };
}

/** True when the config lists our plugin as its last entry, exactly as `entry` (what `insertPlugin` produces). */
export function hasPlugin(fileName: string, raw: string, entry: Json): boolean {
  try {
    return !insertPlugin(fileName, raw, entry).changed;
  } catch {
    return false;
  }
}

/** Removes every entry of ours; `changed` false when there was none. Garbage throws {@link CniConfigError}. */
export function removePlugin(fileName: string, raw: string): { content: string; changed: boolean } {
  const { list, wasSingle } = parseConfig(fileName, raw);
  if (wasSingle) return { content: raw, changed: false };
  const plugins = list.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  if (plugins.length === list.plugins.length) return { content: raw, changed: false };
  return { content: render({ ...list, plugins }), changed: true };
}
