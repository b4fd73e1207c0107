// Image archives (OCI or docker-archive tarballs) loaded into a node's containerd, under the names pods ask for.
import { run } from '../controlplane/exec.js';
import { inMountNamespace } from './mountns.js';

export interface ImageArchive {
  /** The reference pods use, e.g. `ambit/controller:0.1.0` or `docker.io/istio/examples-bookinfo-ratings-v1:1.20.3`. */
  ref: string;
  archive: string;
}

/** The fully qualified name the CRI looks up: `busybox` -> `docker.io/library/busybox:latest`. */
export function normalizeImageRef(ref: string): string {
  let name = ref;
  let suffix = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    suffix = name.slice(at);
    name = name.slice(0, at);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon > name.lastIndexOf('/')) {
      suffix = name.slice(colon);
      name = name.slice(0, colon);
    } else {
      suffix = ':latest';
    }
  }
  const first = name.split('/')[0]!;
  const hasRegistry = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) name = name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
  return name + suffix;
}

const CTR_SOCKET = '/run/containerd/containerd.sock';

/** `ctr images import` inside the node: the image is unpacked for the CRI at once (namespace k8s.io). */
export async function importImage(nsFile: string, ctr: string, image: ImageArchive): Promise<void> {
  const name = normalizeImageRef(image.ref);
  const { cmd, args } = inMountNamespace(nsFile, ctr, ['-a', CTR_SOCKET, '-n', 'k8s.io', 'images', 'import', '--index-name', name, image.archive]);
  const r = await run(cmd, args, { timeoutMs: 300_000 });
  if (r.code !== 0) {
    const why = (r.stderr.trim().split('\n').filter((l) => !/DEPRECATION|deprecated/i.test(l)).pop() ?? '').trim();
    throw new Error(`${image.archive} is not an image archive containerd can load (${why || `ctr exited ${r.code}`})`);
  }
}
