// The images every real node gets at start: the sandbox (pause, from Kubernetes' own source) and CoreDNS (built
// from its module), each wrapped into an image, plus everything `npm run images` builds from the root Dockerfile
// (Ambit, Bookinfo, the curl client, the test tools). All of it is cached (scripts/images.sh keys its output by its
// inputs), so only the first start on a machine builds anything.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../controlplane/paths.js';
import type { ImageArchive } from './images.js';

export interface ImageSet {
  sandboxImage: string;
  archives: ImageArchive[];
}

export const SANDBOX_IMAGE = 'localhost/ambit/pause:v1.36.3';
export const COREDNS_IMAGE_REF = 'localhost/ambit/coredns:v1.15.0';
const imagesScript = join(repoRoot, 'scripts', 'images.sh');

/** Runs scripts/images.sh; resolves with the last line it prints (a directory or an archive). */
function imagesSh(args: string[], log?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [imagesScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.trim().split('\n');
      if (code === 0) {
        if (lines.length > 1) for (const l of lines.slice(0, -1)) log?.(l);
        resolve(lines.pop()!.trim());
      } else {
        reject(new Error(`scripts/images.sh ${args.join(' ')} failed (exit ${code}):\n${(err || out).trim().split('\n').slice(-15).join('\n')}`));
      }
    });
  });
}

interface BuiltImage {
  ref: string;
  name: string;
  archive: string;
  target: string;
}

export async function localImages(opts: { nodeBinDir: string; k8sBinDir: string; log?: (line: string) => void }): Promise<ImageSet> {
  const [dir, pause, coredns] = await Promise.all([
    imagesSh(['build'], opts.log),
    imagesSh(['wrap-binary', join(opts.nodeBinDir, 'pause'), SANDBOX_IMAGE]),
    // Root in the container: it binds port 53.
    imagesSh(['wrap-binary', join(opts.k8sBinDir, 'coredns'), COREDNS_IMAGE_REF]),
  ]);
  const built = JSON.parse(await readFile(join(dir, 'images.json'), 'utf8')) as BuiltImage[];
  const archives: ImageArchive[] = [
    { ref: SANDBOX_IMAGE, archive: pause },
    { ref: COREDNS_IMAGE_REF, archive: coredns },
    // The bases are build inputs, not something a pod runs.
    ...built.filter((b) => b.target !== 'base').map((b) => ({ ref: b.name, archive: b.archive })),
  ];
  opts.log?.(`${archives.length} images from ${dir}`);
  return { sandboxImage: SANDBOX_IMAGE, archives };
}
