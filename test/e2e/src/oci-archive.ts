// Reads an OCI image archive (what `buildah push IMG oci-archive:FILE:NAME` writes, what `ctr images import`
// loads) without a container engine: its index, manifest, config and the files of its layers. Lets tests check
// what an image really holds (entrypoint, user, files) instead of trusting the Dockerfile that made it.
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** One tar entry: its path (no leading `./`), type flag and, for regular files, its data. */
export interface TarEntry {
  path: string;
  type: string;
  mode: number;
  size: number;
  linkTarget: string;
  data?: Buffer;
}

const BLOCK = 512;
const str = (b: Buffer, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
};
const octal = (b: Buffer, off: number, len: number) => {
  const s = str(b, off, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
};
const clean = (p: string) => p.replace(/^\.\//, '').replace(/\/$/, '');

/** PAX extended header records (`<len> key=value\n`). */
function pax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.subarray(i, sp).toString(), 10);
    if (!(len > 0)) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** Walks a tar stream held by `read(offset, length)`: ustar, GNU long names and PAX paths. Data is read only for
 * the entries `want` accepts. */
function* walk(read: (off: number, len: number) => Buffer, total: number, want: (path: string) => boolean): Generator<TarEntry> {
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let paxHeaders = new Map<string, string>();
  while (off + BLOCK <= total) {
    const h = read(off, BLOCK);
    if (h.every((x) => x === 0)) break;
    const size = octal(h, 124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    const dataOff = off + BLOCK;
    off = dataOff + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = str(read(dataOff, size), 0, size);
      continue;
    }
    if (type === 'K') {
      longLink = str(read(dataOff, size), 0, size);
      continue;
    }
    if (type === 'x') {
      paxHeaders = pax(read(dataOff, size));
      continue;
    }
    if (type === 'g') continue;
    const prefix = str(h, 345, 155);
    const name = str(h, 0, 100);
    const path = clean(paxHeaders.get('path') ?? longName ?? (prefix ? `${prefix}/${name}` : name));
    const linkTarget = paxHeaders.get('linkpath') ?? longLink ?? str(h, 157, 100);
    const realSize = paxHeaders.has('size') ? Number(paxHeaders.get('size')) : size;
    longName = longLink = undefined;
    paxHeaders = new Map();
    const entry: TarEntry = { path, type: type === '\0' ? '0' : type, mode: octal(h, 100, 8), size: realSize, linkTarget };
    if (want(path) && (entry.type === '0' || entry.type === '7')) entry.data = read(dataOff, realSize);
    yield entry;
  }
}

/** The entries of a tar held in memory (a layer, after gunzip). */
export function tarEntries(tar: Buffer, want: (path: string) => boolean = () => false): TarEntry[] {
  return [...walk((o, l) => tar.subarray(o, o + l), tar.length, want)];
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The parts of an image config a runtime uses (OCI image-spec `config`). */
export interface OciImageConfig {
  User?: string;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
}

export interface OciImage {
  /** `org.opencontainers.image.ref.name` of the index entry: the name the image was written under. */
  refName: string | undefined;
  manifest: { config: OciDescriptor; layers: OciDescriptor[] };
  config: { architecture: string; os: string; config: OciImageConfig; rootfs: { diff_ids: string[] } };
  /** Every file of the outer archive with its size (blobs/sha256/…, index.json, oci-layout). */
  files: Map<string, number>;
  /** A layer's entries, uncompressed; `want` selects the files whose data is read. */
  layer(digest: string, want?: (path: string) => boolean): TarEntry[];
}

/** Reads `len` bytes at `off` of a file. */
function readAt(file: string, off: number, len: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(len);
    const n = readSync(fd, b, 0, len, off);
    if (n !== len) throw new Error(`${file}: truncated (wanted ${len} bytes at ${off}, got ${n})`);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** Where each file of an (uncompressed) outer archive is: its data's offset and size. */
function indexArchive(file: string): Map<string, { off: number; size: number }> {
  const fd = openSync(file, 'r');
  const where = new Map<string, { off: number; size: number }>();
  try {
    const total = fstatSync(fd).size;
    const h = Buffer.alloc(BLOCK);
    let off = 0;
    while (off + BLOCK <= total) {
      readSync(fd, h, 0, BLOCK, off);
      if (h.every((x) => x === 0)) break;
      const size = octal(h, 124, 12);
      if (!Number.isFinite(size)) throw new Error(`${file}: not a tar archive (bad header at byte ${off})`);
      const prefix = str(h, 345, 155);
      const name = clean(prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
      where.set(name, { off: off + BLOCK, size });
      off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    closeSync(fd);
  }
  return where;
}

/** Opens an OCI archive with one image in it. Throws a one-line error naming what is wrong. */
export function readOciArchive(file: string): OciImage {
  const where = indexArchive(file);
  const blob = (name: string): Buffer => {
    const w = where.get(name);
    if (!w) throw new Error(`${file}: no ${name} in the archive (not an OCI archive, or truncated)`);
    return readAt(file, w.off, w.size);
  };
  const json = <T>(name: string): T => {
    try {
      return JSON.parse(blob(name).toString('utf8')) as T;
    } catch (e) {
      throw new Error(`${file}: ${name} is not JSON (${(e as Error).message})`);
    }
  };
  const byDigest = (d: string) => `blobs/${d.replace(':', '/')}`;
  if (!where.has('oci-layout')) throw new Error(`${file}: no oci-layout file: not an OCI archive`);
  const index = json<{ manifests?: OciDescriptor[] }>('index.json');
  const entry = index.manifests?.[0];
  if (!entry || index.manifests!.length !== 1) throw new Error(`${file}: index.json lists ${index.manifests?.length ?? 0} images, expected 1`);
  const manifest = json<OciImage['manifest']>(byDigest(entry.digest));
  const config = json<OciImage['config']>(byDigest(manifest.config.digest));
  return {
    refName: entry.annotations?.['org.opencontainers.image.ref.name'],
    manifest,
    config,
    files: new Map([...where].map(([k, v]) => [k, v.size])),
    layer(digest, want = () => false) {
      const desc = manifest.layers.find((l) => l.digest === digest);
      if (!desc) throw new Error(`${file}: ${digest} is not a layer of this image`);
      const raw = blob(byDigest(digest));
      return tarEntries(desc.mediaType.endsWith('gzip') ? gunzipSync(raw) : raw, want);
    },
  };
}
