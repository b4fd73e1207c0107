// The mesh root: a user-provided CA (Secret `cacerts`, Istio's plug-in CA) or a self-signed root created on
// first start and kept in Secret `istio-ca-secret` (as istiod's self-signed CA), both in the system namespace.

import * as crypto from 'node:crypto';
import { KubeError, type KubeClient } from '../kube/client.js';
import { R, type KubeObject } from '../kube/resources.js';
import { createRootCA, loadCA, type CertificateAuthority } from '@ambit/mesh-api';
import { keyPolicyError } from './key-policy.js';

export const SELF_SIGNED_SECRET = 'istio-ca-secret';
export const PLUGGED_SECRET = 'cacerts';
export const CA_CERT = 'ca-cert.pem';
export const CA_KEY = 'ca-key.pem';
export const ROOT_CERT = 'root-cert.pem';
export const CERT_CHAIN = 'cert-chain.pem';

export interface MeshAuthority {
  /** Signs workload and serving certificates. */
  ca: CertificateAuthority;
  /** The trust anchor the signing chain ends at. */
  rootPem: string;
  /** Other roots `root-cert.pem` lists (a staged root rotation): trusted too, never in the chain. */
  extraRootsPem: string[];
  /** The signing CA's certificate and those above it up to the root (appended to every leaf). */
  chainPem: string[];
  source: 'plugged' | 'self-signed';
}

/** Secret access, decoded; injected so the logic is testable without an API server. */
export interface SecretStore {
  get(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** Creates the secret; answers false if it already exists. */
  create(namespace: string, name: string, type: string, data: Record<string, string>): Promise<boolean>;
}

export function kubeSecretStore(client: KubeClient): SecretStore {
  return {
    async get(namespace, name) {
      const s = await client.getOrUndefined<KubeObject & { data?: Record<string, string> }>(R.secret, namespace, name);
      if (!s) return undefined;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
      return out;
    },
    async create(namespace, name, type, data) {
      try {
        await client.create(
          R.secret,
          { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'ambit' } }, type, stringData: data },
          { fieldManager: 'ambit-ca' },
        );
        return true;
      } catch (err) {
        if (err instanceof KubeError && err.conflict) return false;
        throw err;
      }
    },
  };
}

const splitPem = (pem: string | undefined): string[] =>
  pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((c) => c + '\n') ?? [];
const sameCert = (a: string, b: string): boolean => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

export class AuthorityError extends Error {
  override name = 'AuthorityError';
}

/** Builds the authority from PEM: the signing cert (+ optional chain and root) and its key. Checks they fit. */
export function authorityFromPem(
  data: { caCert: string; caKey: string; certChain?: string; rootCert?: string },
  source: MeshAuthority['source'],
): MeshAuthority {
  const [own] = splitPem(data.caCert);
  if (!own) throw new AuthorityError(`${CA_CERT} holds no certificate`);
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(data.caKey);
  } catch (err) {
    throw new AuthorityError(`${CA_KEY} is not a private key: ${(err as Error).message}`);
  }
  const keyError = keyPolicyError(key);
  if (keyError) throw new AuthorityError(`${CA_KEY} refused: ${keyError}`);
  const cert = new crypto.X509Certificate(own);
  const pubOf = (k: crypto.KeyObject) => crypto.createPublicKey(k).export({ type: 'spki', format: 'der' });
  if (!pubOf(key).equals(cert.publicKey.export({ type: 'spki', format: 'der' })))
    throw new AuthorityError(`${CA_KEY} does not belong to ${CA_CERT}`);
  if (!cert.ca) throw new AuthorityError(`${CA_CERT} is not a CA certificate`);
  const chain = splitPem(data.certChain);
  const roots = splitPem(data.rootCert);
  const parents = chain.filter((c) => !sameCert(c, own));
  // root-cert.pem may list several roots (old and new during a rotation): the chain's root is the one that is
  // the top of the chain or issued it; the others are only trusted.
  const top = parents[parents.length - 1] ?? own;
  const topCert = new crypto.X509Certificate(top);
  const rootPem = roots.find((r) => sameCert(r, top) || topCert.checkIssued(new crypto.X509Certificate(r))) ?? roots[0] ?? top;
  if (!sameCert(rootPem, own) && !parents.some((c) => sameCert(c, rootPem))) parents.push(rootPem);
  const ca = loadCA({ certPem: own + parents.join(''), keyPem: data.caKey });
  return { ca, rootPem, extraRootsPem: roots.filter((r) => !sameCert(r, rootPem)), chainPem: [own, ...parents], source };
}

export interface LoadAuthorityOptions {
  namespace: string;
  /** Subject organization of a new self-signed root (Istio: the trust domain). */
  organization?: string;
  validityDays?: number;
}

/** Loads the plugged CA, else the stored self-signed root, else creates and stores one. */
export async function loadAuthority(store: SecretStore, opts: LoadAuthorityOptions): Promise<MeshAuthority> {
  const plugged = await store.get(opts.namespace, PLUGGED_SECRET);
  if (plugged && plugged[CA_CERT] && plugged[CA_KEY]) {
    return authorityFromPem(
      { caCert: plugged[CA_CERT], caKey: plugged[CA_KEY], certChain: plugged[CERT_CHAIN], rootCert: plugged[ROOT_CERT] },
      'plugged',
    );
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const stored = await store.get(opts.namespace, SELF_SIGNED_SECRET);
    if (stored && stored[CA_CERT] && stored[CA_KEY])
      return authorityFromPem({ caCert: stored[CA_CERT], caKey: stored[CA_KEY] }, 'self-signed');
    if (stored) throw new AuthorityError(`Secret ${opts.namespace}/${SELF_SIGNED_SECRET} lacks ${CA_CERT} or ${CA_KEY}`);
    const root = createRootCA({ organization: opts.organization ?? 'cluster.local', validityDays: opts.validityDays ?? 3650 });
    const created = await store.create(opts.namespace, SELF_SIGNED_SECRET, 'istio.io/ca-root', {
      [CA_CERT]: root.certPem,
      [CA_KEY]: root.keyPem,
      [CERT_CHAIN]: '',
      [ROOT_CERT]: '',
      'key.pem': '',
    });
    if (created) return authorityFromPem({ caCert: root.certPem, caKey: root.keyPem }, 'self-signed');
    // Another replica created it first: read theirs.
  }
  throw new AuthorityError(`could not load or create Secret ${opts.namespace}/${SELF_SIGNED_SECRET}`);
}
