// Kubelet URL paths (pkg/kubelet/server/server.go): /{verb}/{namespace}/{pod}/{container}, and for exec, attach
// and run also /{verb}/{namespace}/{pod}/{uid}/{container}.
import type { ContainerRef } from '../node/runtime.js';

export interface Route {
  verb: string;
  ref?: ContainerRef;
  uid?: string;
}

export function parseRoute(pathname: string): Route {
  const raw = pathname.split('/').filter((s, i) => i > 0 || s !== '');
  let segs: string[];
  try {
    segs = raw.map((s) => decodeURIComponent(s));
  } catch {
    return { verb: '' };
  }
  if (segs[0] === '') segs.shift();
  const [verb = '', ...rest] = segs;
  if (rest.length === 3 && rest.every((s) => s !== '')) {
    return { verb, ref: { namespace: rest[0]!, pod: rest[1]!, container: rest[2]! } };
  }
  if (rest.length === 4 && verb !== 'containerLogs' && rest.every((s) => s !== '')) {
    return { verb, ref: { namespace: rest[0]!, pod: rest[1]!, container: rest[3]! }, uid: rest[2]! };
  }
  return { verb };
}

export const describe = (ref: ContainerRef): string => `${ref.namespace}/${ref.pod}/${ref.container}`;

/** /portForward/{namespace}/{pod} and /portForward/{namespace}/{pod}/{uid}. */
export function portForwardTarget(pathname: string): { namespace: string; pod: string } | undefined {
  let segs: string[];
  try {
    segs = pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  if (segs[0] !== 'portForward' || (segs.length !== 3 && segs.length !== 4) || segs.slice(1).some((s) => s === '')) return undefined;
  return { namespace: segs[1]!, pod: segs[2]! };
}
