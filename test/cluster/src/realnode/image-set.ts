// The images every real node gets at start: the sandbox (pause), CoreDNS, and everything `npm run images` builds
// (Ambit, Bookinfo, the curl client, the test tools). Each comes from a cache folder whose images.json lists
// `{ ref, archive }` entries.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageArchive } from './images.js';

export interface ImageSet {
  sandboxImage: string;
  archives: ImageArchive[];
}

export const SANDBOX_IMAGE = 'localhost/ambit/pause:v1.36.3';

async function readList(dir: string): Promise<ImageArchive[]> {
  const file = join(dir, 'images.json');
  if (!existsSync(file)) throw new Error(`no images.json in ${dir}: run npm run images`);
  const list = JSON.parse(await readFile(file, 'utf8')) as Array<{ ref: string; archive: string }>;
  return list.map((e) => ({ ref: e.ref, archive: e.archive.startsWith('/') ? e.archive : join(dir, e.archive) }));
}

export async function localImages(opts: { log?: (line: string) => void } = {}): Promise<ImageSet> {
  const dirs = (process.env.AMBIT_IMAGES_DIR ?? '').split(':').filter(Boolean);
  if (!dirs.length) throw new Error('AMBIT_IMAGES_DIR is not set (the images are not built yet): run npm run images');
  const archives = (await Promise.all(dirs.map(readList))).flat();
  opts.log?.(`${archives.length} images from ${dirs.join(', ')}`);
  if (!archives.some((a) => a.ref === SANDBOX_IMAGE)) throw new Error(`the sandbox image ${SANDBOX_IMAGE} is not among the images`);
  return { sandboxImage: SANDBOX_IMAGE, archives };
}
