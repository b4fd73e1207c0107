// A minimal OCI image archive written by hand (one layer, an entrypoint), for the cluster:load test: what
// `buildah push oci-archive:` or `docker save` would give a user.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeOciArchive(dir: string, ref: string, binary: string): string {
  const root = join(dir, 'layout');
  const blobs = join(root, 'blobs', 'sha256');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(blobs, { recursive: true });
  mkdirSync(rootfs, { recursive: true });
  copyFileSync(binary, join(rootfs, 'app'));
  execFileSync('chmod', ['0755', join(rootfs, 'app')]);
  const layerFile = join(dir, 'layer.tar');
  execFileSync('tar', ['-cf', layerFile, '-C', rootfs, 'app']);
  const blob = (data: Buffer) => {
    const digest = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const layer = blob(readFileSync(layerFile));
  const config = blob(
    Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Entrypoint: ['/app'] }, rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  writeFileSync(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(root, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }],
    }),
  );
  const out = join(dir, 'image.oci.tar');
  execFileSync('tar', ['-cf', out, '-C', root, 'oci-layout', 'index.json', 'blobs']);
  return out;
}
