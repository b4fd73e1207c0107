// Applies InstallValues to the manifests' objects (copies; the inputs are untouched). Generic on purpose, so a
// manifest added later is covered without code: every `ambit/<name>[:tag]` image of any pod template (containers,
// init containers) and every env value of a `*_IMAGE` variable holding one (AMBIT_WAYPOINT_IMAGE: the waypoints
// the controller renders) becomes `<hub>/<name>:<tag>`; every DaemonSet hostPath volume named `cni-bin-dir` /
// `cni-net-dir` (Istio's istio-cni-node names) gets the node directory, as do env variables and ConfigMap keys
// named CNI_BIN_DIR / CNI_NET_DIR (the host path an agent writes into the CNI configuration).
import type { KubeObject } from '../kube/resources.js';
import type { InstallValues } from './values.js';

/** The repository prefix of the images this project builds. */
export const DEFAULT_HUB = 'ambit';

interface Container {
  image?: string;
  env?: Array<{ name: string; value?: string }>;
}
interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string } }>;
}

const CNI_VOLUMES: Record<string, 'cniBinDir' | 'cniConfDir'> = { 'cni-bin-dir': 'cniBinDir', 'cni-net-dir': 'cniConfDir' };
const CNI_KEYS: Record<string, 'cniBinDir' | 'cniConfDir'> = { CNI_BIN_DIR: 'cniBinDir', CNI_NET_DIR: 'cniConfDir' };

/** `ambit/<name>[:tag]` (no registry, no digest) moved to the hub and tag asked for; anything else unchanged. */
export function rewriteImage(image: string, values: Pick<InstallValues, 'hub' | 'tag'>): string {
  const m = /^ambit\/([a-z0-9][a-z0-9._-]*)(?::([\w][\w.-]*))?$/.exec(image);
  if (!m) return image;
  const tag = values.tag ?? m[2];
  return `${values.hub ?? DEFAULT_HUB}/${m[1]}${tag ? `:${tag}` : ''}`;
}

function podSpecOf(o: KubeObject): PodSpec | undefined {
  if (o.kind === 'Pod') return o.spec as PodSpec | undefined;
  const spec = o.spec as { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } } | undefined;
  return spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec;
}

export function customizeManifests(objects: KubeObject[], values: InstallValues): KubeObject[] {
  return objects.map((orig) => {
    const o = structuredClone(orig);
    const pod = podSpecOf(o);
    if (pod) {
      for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
        if (c.image) c.image = rewriteImage(c.image, values);
        for (const e of c.env ?? []) {
          if (e.name.endsWith('_IMAGE') && e.value) e.value = rewriteImage(e.value, values);
          const cniKey = CNI_KEYS[e.name];
          if (cniKey && values[cniKey] && e.value !== undefined && o.kind === 'DaemonSet') e.value = values[cniKey];
        }
      }
      if (o.kind === 'DaemonSet') {
        for (const v of pod.volumes ?? []) {
          const dir = CNI_VOLUMES[v.name] && values[CNI_VOLUMES[v.name]!];
          if (dir && v.hostPath) v.hostPath.path = dir;
        }
      }
    }
    if (o.kind === 'ConfigMap' && o.data && typeof o.data === 'object') {
      const data = o.data as Record<string, string>;
      for (const [k, key] of Object.entries(CNI_KEYS)) if (k in data && values[key]) data[k] = values[key]!;
    }
    return o;
  });
}
