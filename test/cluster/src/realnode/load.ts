// `npm run cluster:load -- <archive>...`: loads image archives (OCI, as `buildah push oci-archive:` or
// `docker save --format oci` write them, or docker-archive) into every node of the running cluster, as
// `kind load image-archive` does. The image keeps the name the archive gives it.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../controlplane/exec.js';
import { importImage } from './images.js';

export class ArchiveError extends Error {}

async function tarMember(file: string, member: string): Promise<string | undefined> {
  const r = await run('tar', ['-xOf', file, member], { timeoutMs: 60_000 });
  return r.code === 0 ? r.stdout : undefined;
}

/** The image names an archive carries; throws ArchiveError with one line when it is not an image archive. */
export async function imageNamesInArchive(file: string): Promise<string[]> {
  if (!existsSync(file)) throw new ArchiveError(`${file}: no such file`);
  const list = await run('tar', ['-tf', file], { timeoutMs: 60_000 });
  if (list.code !== 0) throw new ArchiveError(`${file} is not an image archive: not a readable tar file (${list.stderr.trim().split('\n').pop()})`);
  const members = new Set(list.stdout.split('\n').map((m) => m.replace(/^\.\//, '')));
  try {
    if (members.has('index.json') && members.has('oci-layout')) {
      const index = JSON.parse((await tarMember(file, members.has('index.json') ? 'index.json' : './index.json')) ?? '') as {
        manifests?: Array<{ annotations?: Record<string, string> }>;
      };
      const names = (index.manifests ?? []).map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').filter((n) => n.includes('/') || n.includes(':'));
      // A bare tag ("latest") is not a name: buildah writes the full reference when pushed as oci-archive:FILE:NAME.
      if (!names.length) throw new ArchiveError(`${file}: the OCI archive names no image (push it as oci-archive:FILE:NAME)`);
      return names;
    }
    if (members.has('manifest.json')) {
      const manifest = JSON.parse((await tarMember(file, 'manifest.json')) ?? '') as Array<{ RepoTags?: string[] }>;
      const names = manifest.flatMap((m) => m.RepoTags ?? []);
      if (!names.length) throw new ArchiveError(`${file}: the docker archive names no image (docker save NAME:TAG)`);
      return names;
    }
  } catch (e) {
    if (e instanceof ArchiveError) throw e;
    throw new ArchiveError(`${file} is not an image archive: its index is not valid JSON`);
  }
  throw new ArchiveError(`${file} is not an image archive: no index.json/oci-layout (OCI) or manifest.json (docker)`);
}

/** The pinned mount namespaces of the cluster's real nodes (`<state>/nodes/<name>.mnt`). */
export async function nodeMountNamespaces(stateDir: string): Promise<Array<{ name: string; nsFile: string }>> {
  const dir = join(stateDir, 'nodes');
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((f) => f.endsWith('.mnt')).map((f) => ({ name: f.slice(0, -4), nsFile: join(dir, f) }));
}

export async function loadArchive(stateDir: string, ctr: string, file: string): Promise<{ names: string[]; nodes: string[] }> {
  const names = await imageNamesInArchive(file);
  const nodes = await nodeMountNamespaces(stateDir);
  if (!nodes.length) throw new ArchiveError('the running local cluster has no real nodes to load images into');
  for (const n of nodes) for (const ref of names) await importImage(n.nsFile, ctr, { ref, archive: file });
  return { names, nodes: nodes.map((n) => n.name) };
}
