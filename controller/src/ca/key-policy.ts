// Which keys the CA accepts, in CSRs and as its own signing key: ECDSA P-256 or P-384, RSA of at least 2048 bits
// (the keys Istio's clients make, and what a plugged-in `cacerts` usually holds). Anything else (RSA-1024, P-521,
// Ed25519, DSA, RSA-PSS-only keys) is refused with a message naming the key.

import type { KeyObject } from 'node:crypto';

export const ALLOWED_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };
export const MIN_RSA_BITS = 2048;

/** What is wrong with `key` for the mesh, or undefined when it is acceptable. */
export function keyPolicyError(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown';
    return ALLOWED_CURVES[curve] ? undefined : `ECDSA curve ${curve} is not allowed: use P-256 or P-384`;
  }
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= MIN_RSA_BITS ? undefined : `RSA key of ${bits} bits is too short: use at least ${MIN_RSA_BITS} bits`;
  }
  return `${type ?? 'unknown'} keys are not allowed: use ECDSA P-256/P-384 or RSA of at least ${MIN_RSA_BITS} bits`;
}

/** A one-line description for logs: `ECDSA P-256`, `RSA 3072`. */
export function describeKey(key: KeyObject): string {
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${ALLOWED_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? key.asymmetricKeyDetails?.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${key.asymmetricKeyDetails?.modulusLength}`;
  return String(key.asymmetricKeyType);
}
