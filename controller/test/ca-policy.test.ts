// CA policy (issue 12): which CSR keys are signed, that the CSR's own signature is checked with the algorithm it
// names, that no certificate is issued with a zero-length lifetime, and which keys a plugged-in CA may hold.
import test from 'ava';
import * as crypto from 'node:crypto';
import { createCsr, createIntermediateCA, createRootCA, nullLogger } from '@ambit/mesh-api';
import { Authenticator, authorityFromPem, CaComponent, HttpError, issueCertificate, staticPodLookup, type MeshAuthority } from '../src/ca/index.js';
import { fakeReviewer, token } from './ca-fixtures.js';

const ID = 'spiffe://cluster.local/ns/default/sa/sleep';
const key = (type: 'ec' | 'rsa', param: string | number) =>
  (type === 'ec' ? crypto.generateKeyPairSync('ec', { namedCurve: param as string }) : crypto.generateKeyPairSync('rsa', { modulusLength: param as number })).privateKey;

function issuer(authority: MeshAuthority, over: { defaultTtlSeconds?: number } = {}) {
  const opts = { authenticator: new Authenticator({ review: fakeReviewer }), authority: () => authority, pods: staticPodLookup(() => []), ...over };
  return (csr: string, body: Record<string, unknown> = {}) => issueCertificate(opts, { authorization: `Bearer ${token('default', 'sleep')}`, body: { csr, ...body } });
}

function selfSigned(k?: crypto.KeyObject, validityDays?: number): MeshAuthority {
  const root = createRootCA({ ...(k ? { key: k } : {}), ...(validityDays !== undefined ? { validityDays } : {}) });
  return authorityFromPem({ caCert: root.certPem, caKey: root.keyPem }, 'self-signed');
}

test('CSR keys: ECDSA P-256, P-384 and RSA-2048 are signed; RSA-1024 and P-521 are refused with a 400 naming the key', async (t) => {
  const issue = issuer(selfSigned());
  for (const [k, want] of [[key('ec', 'prime256v1'), 'prime256v1'], [key('ec', 'secp384r1'), 'secp384r1'], [key('rsa', 2048), 2048]] as const) {
    const out = await issue(createCsr(ID, k).csrPem);
    const leaf = new crypto.X509Certificate(out.certChain[0]!);
    const d = leaf.publicKey.asymmetricKeyDetails!;
    t.is(d.namedCurve ?? d.modulusLength, want);
  }
  const rsa1024 = await t.throwsAsync(issue(createCsr(ID, key('rsa', 1024)).csrPem), { instanceOf: HttpError });
  t.is(rsa1024!.status, 400);
  t.is(rsa1024!.message, 'CSR key refused: RSA key of 1024 bits is too short: use at least 2048 bits');
  const p521 = await t.throwsAsync(issue(createCsr(ID, key('ec', 'secp521r1')).csrPem), { instanceOf: HttpError });
  t.is(p521!.message, 'CSR key refused: ECDSA curve secp521r1 is not allowed: use P-256 or P-384');
});

test('the CSR signature is verified with the algorithm the CSR names: a relabelled or tampered CSR is 400', async (t) => {
  const issue = issuer(selfSigned());
  const { csrPem } = createCsr(ID);
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  // ecdsa-with-SHA256 -> ecdsa-with-SHA384 in the outer signatureAlgorithm; the signature (over SHA-256) is unchanged.
  const sha256Oid = Buffer.from('06082a8648ce3d040302', 'hex');
  const at = der.indexOf(sha256Oid);
  t.true(at > 0);
  const relabelled = Buffer.from(der);
  relabelled[at + sha256Oid.length - 1] = 0x03;
  const pem = (b: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${b.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const e1 = await t.throwsAsync(issue(pem(relabelled)), { instanceOf: HttpError });
  t.is(e1!.status, 400);
  t.is(e1!.message, 'invalid CSR: signature does not verify');
  // A flipped bit in the request info.
  const tampered = Buffer.from(der);
  tampered[40] = tampered[40]! ^ 0x01;
  const e2 = await t.throwsAsync(issue(pem(tampered)), { instanceOf: HttpError });
  t.is(e2!.status, 400);
});

test('lifetimes: a fractional validitySeconds is 400, never a zero-length certificate', async (t) => {
  const issue = issuer(selfSigned());
  const err = await t.throwsAsync(issue(createCsr(ID).csrPem, { validitySeconds: 0.5 }), { instanceOf: HttpError });
  t.is(err!.status, 400);
  t.is(err!.message, 'validitySeconds must be a positive whole number of seconds');
  // 0 asks for the default (Istio's non-positive rule), which is 24 h.
  const out = await issue(createCsr(ID).csrPem, { validitySeconds: 0 });
  const leaf = new crypto.X509Certificate(out.certChain[0]!);
  t.true(Date.parse(leaf.validTo) - Date.now() > 23 * 3600_000);
});

test('lifetimes: a CA past its end issues nothing (503 naming the Secret to renew)', async (t) => {
  const issue = issuer(selfSigned(undefined, 0));
  const err = await t.throwsAsync(issue(createCsr(ID).csrPem), { instanceOf: HttpError });
  t.is(err!.status, 503);
  t.regex(err!.message, /^the mesh CA certificate expired at .*: renew Secret cacerts \(or istio-ca-secret\)$/);
});

test('lifetimes: a zero default or maximum TTL is refused when the CA is configured', (t) => {
  const base = { port: 0, tokenReviewer: fakeReviewer, pods: staticPodLookup(() => []), log: nullLogger };
  t.throws(() => new CaComponent({ ...base, defaultTtlSeconds: 0 }), { message: 'CA defaultTtlSeconds (DEFAULT_WORKLOAD_CERT_TTL) must be at least 1 second, got 0' });
  t.throws(() => new CaComponent({ ...base, maxTtlSeconds: 0 }), { message: 'CA maxTtlSeconds (MAX_WORKLOAD_CERT_TTL) must be at least 1 second, got 0' });
});

test('plugged-in CA keys: RSA-2048 and P-384 CAs sign (with their own algorithm); RSA-1024 and P-521 are refused', async (t) => {
  for (const k of [key('rsa', 2048), key('ec', 'secp384r1')]) {
    const authority = selfSigned(k);
    const out = await issuer(authority)(createCsr(ID).csrPem);
    const leaf = new crypto.X509Certificate(out.certChain[0]!);
    t.true(leaf.verify(authority.ca.cert.publicKey), `leaf verifies under a ${k.asymmetricKeyType} CA`);
    // An intermediate under it works too.
    const inter = createIntermediateCA(authority.ca);
    t.true(new crypto.X509Certificate(inter.certPem).verify(authority.ca.cert.publicKey));
  }
  for (const [k, msg] of [
    [key('rsa', 1024), 'ca-key.pem refused: RSA key of 1024 bits is too short: use at least 2048 bits'],
    [key('ec', 'secp521r1'), 'ca-key.pem refused: ECDSA curve secp521r1 is not allowed: use P-256 or P-384'],
  ] as const) {
    const root = createRootCA({ key: k });
    t.throws(() => authorityFromPem({ caCert: root.certPem, caKey: root.keyPem }, 'plugged'), { message: msg });
  }
});
