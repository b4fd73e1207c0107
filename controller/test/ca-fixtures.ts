// Shared by the ca/push/mesh unit tests: an in-process CA on a free port with a fake TokenReview, pods and
// secret store, so the real TLS, HTTP/2 and signing paths run without an API server.

import type { TokenReviewer } from '../src/ca/auth.js';
import { nullLogger } from '@ambit/mesh-api';
import { CaComponent, staticPodLookup, type PodFacts, type SecretStore } from '../src/ca/index.js';

/** Tokens of the form `test:<ns>:<sa>[:<pod>[:<uid>]]` authenticate as that ServiceAccount (bound to that pod). */
export const fakeReviewer: TokenReviewer = async (token, audiences) => {
  const [scheme, ns, sa, pod, uid] = token.split(':');
  if (scheme !== 'test' || !ns || !sa) return { authenticated: false, error: 'invalid bearer token' };
  if (!audiences.includes('istio-ca')) return { authenticated: false, error: 'audience' };
  const extra: Record<string, string[]> = {};
  if (pod) extra['authentication.kubernetes.io/pod-name'] = [pod];
  if (uid) extra['authentication.kubernetes.io/pod-uid'] = [uid];
  return { authenticated: true, audiences: ['istio-ca'], user: { username: `system:serviceaccount:${ns}:${sa}`, extra } };
};

export const token = (ns: string, sa: string, pod?: string, uid?: string): string =>
  ['test', ns, sa, ...(pod ? [pod] : []), ...(uid ? [uid] : [])].join(':');

export function memorySecrets(initial: Record<string, Record<string, string>> = {}): SecretStore & { data: Record<string, Record<string, string>> } {
  const data = { ...initial };
  return {
    data,
    async get(ns, name) {
      return data[`${ns}/${name}`];
    },
    async create(ns, name, _type, d) {
      if (data[`${ns}/${name}`]) return false;
      data[`${ns}/${name}`] = d;
      return true;
    },
  };
}

export function pod(ns: string, name: string, sa: string, nodeName?: string, labels: Record<string, string> = {}): PodFacts {
  return { namespace: ns, name, serviceAccount: sa, uid: `uid-${name}`, labels, ...(nodeName ? { nodeName } : {}) };
}

export async function startTestCa(pods: PodFacts[] = [], opts: { secrets?: SecretStore } = {}): Promise<{ ca: CaComponent; address: string; pods: PodFacts[] }> {
  const ca = new CaComponent({
    port: 0,
    host: '127.0.0.1',
    tokenReviewer: fakeReviewer,
    pods: staticPodLookup(() => pods),
    secrets: opts.secrets ?? memorySecrets(),
    log: nullLogger,
  });
  await ca.start();
  return { ca, address: `https://localhost:${ca.server.port}`, pods };
}
