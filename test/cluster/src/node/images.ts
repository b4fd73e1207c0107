// The image table: container images mapped to local ways of running them (see test/cluster/images.json).
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export type RunSpec =
  | { kind: 'command'; entrypoint?: string[]; cmd?: string[] }
  | { kind: 'node'; script: string }
  | { kind: 'bin'; name: string };

export interface ImageEntry {
  image: string;
  run: RunSpec;
  /** The image's own ENV (Dockerfile `ENV`): under the container's env, which overrides it. */
  env?: Record<string, string>;
}

export interface ImageTable {
  entries: ImageEntry[];
}

export function parseImageTable(text: string): ImageTable {
  const raw = JSON.parse(text) as { images?: unknown };
  if (!Array.isArray(raw.images)) throw new Error('image table: "images" must be a list');
  const entries: ImageEntry[] = [];
  for (const [i, e] of (raw.images as Array<Partial<ImageEntry>>).entries()) {
    if (typeof e.image !== 'string' || !e.run || typeof e.run !== 'object') {
      throw new Error(`image table entry ${i}: needs "image" and "run"`);
    }
    const run = e.run as RunSpec;
    if (run.kind === 'node' && typeof run.script !== 'string') throw new Error(`image table entry ${i}: node needs "script"`);
    if (run.kind === 'bin' && typeof run.name !== 'string') throw new Error(`image table entry ${i}: bin needs "name"`);
    if (!['command', 'node', 'bin'].includes(run.kind)) throw new Error(`image table entry ${i}: unknown kind ${String(run.kind)}`);
    if (e.env !== undefined && (typeof e.env !== 'object' || e.env === null || Object.values(e.env).some((v) => typeof v !== 'string'))) {
      throw new Error(`image table entry ${i}: "env" must map names to strings`);
    }
    entries.push({ image: e.image, run, ...(e.env ? { env: e.env } : {}) });
  }
  return { entries };
}

export function loadImageTable(file: string): ImageTable {
  return parseImageTable(readFileSync(file, 'utf8'));
}

/** The repository part of an image reference: no tag, no digest. */
export function imageRepository(image: string): string {
  let ref = image.trim();
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) ref = ref.slice(0, colon);
  return ref;
}

/** The spellings of one repository that the table's globs are tried against. */
export function repositoryCandidates(image: string): string[] {
  const repo = imageRepository(image);
  const out = new Set<string>([repo]);
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/', 'localhost/']) {
    if (repo.startsWith(prefix)) out.add(repo.slice(prefix.length));
  }
  return [...out];
}

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function matchImage(table: ImageTable, image: string): ImageEntry | undefined {
  const candidates = repositoryCandidates(image);
  for (const entry of table.entries) {
    const re = globToRegExp(imageRepository(entry.image));
    if (candidates.some((c) => re.test(c))) return entry;
  }
  return undefined;
}

export interface ResolveContext {
  repoRoot: string;
  binDir: string;
  nodeBinary: string;
}

/** A container's command line (and its image's ENV, if any), or the reason it cannot run (reported as an image pull failure). */
export type Resolved = { ok: true; argv: string[]; env?: Record<string, string> } | { ok: false; reason: 'ErrImagePull'; message: string };

export function resolveCommand(
  table: ImageTable,
  container: { image?: string; command?: string[]; args?: string[] },
  ctx: ResolveContext,
  exists: (path: string) => boolean = existsSync,
): Resolved {
  const image = container.image ?? '';
  const entry = matchImage(table, image);
  if (!entry) {
    return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${image}": no mapping for this image in the Ambit image table` };
  }
  const r = resolveEntry(entry, image, container, ctx, exists);
  return r.ok && entry.env ? { ...r, env: { ...entry.env } } : r;
}

function resolveEntry(
  entry: ImageEntry,
  image: string,
  container: { command?: string[]; args?: string[] },
  ctx: ResolveContext,
  exists: (path: string) => boolean,
): Resolved {
  const args = container.args ?? [];
  const run = entry.run;
  switch (run.kind) {
    case 'command': {
      let argv: string[];
      if (container.command?.length) argv = [...container.command, ...args];
      else if (container.args?.length) argv = [...(run.entrypoint ?? []), ...args];
      else argv = [...(run.entrypoint ?? []), ...(run.cmd ?? [])];
      if (argv.length === 0) {
        return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${image}": no command given and the image table names none` };
      }
      return { ok: true, argv };
    }
    case 'node': {
      const script = isAbsolute(run.script) ? run.script : join(ctx.repoRoot, run.script);
      if (!exists(script)) {
        return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${image}": ${run.script} does not exist (not built?)` };
      }
      return { ok: true, argv: [ctx.nodeBinary, script, ...args] };
    }
    case 'bin': {
      const bin = join(ctx.binDir, run.name);
      if (!ctx.binDir || !exists(bin)) {
        return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${image}": binary ${run.name} not found in ${ctx.binDir || '(no binDir)'}` };
      }
      return { ok: true, argv: [bin, ...args] };
    }
  }
}
