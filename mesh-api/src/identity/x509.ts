// The mesh's one X.509 module: CAs, PKCS#10 CSRs, workload leaves and TLS serving certificates, built with
// node-forge's ASN.1 and signed with node:crypto (ECDSA P-256 / SHA-256 for keys made here; a P-384 or RSA signer
// uses the matching algorithm). node-forge's `pki` only handles RSA, so only `forge.asn1` is used.
// Workload certificates carry an empty subject and a single critical URI SAN (the SPIFFE id), as Istio's; serving
// certificates (istiod's :15012) a CN and non-critical DNS/IP SANs.
import * as crypto from 'node:crypto';
import { isIP } from 'node:net';
import type forge from 'node-forge';
// Only forge's ASN.1 module: its index also loads pki, tls and the ciphers, +6.5 MB of RSS in every process.
import forgeAsn1 from 'node-forge/lib/asn1.js';

const asn1 = forgeAsn1 as typeof forge.asn1;
type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const C = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
};

const bin = (b: Buffer): string => b.toString('binary');
const buf = (s: string): Buffer => Buffer.from(s, 'binary');
const seq = (v: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, v);
const set = (v: Asn1[]): Asn1 => asn1.create(U, T.SET, true, v);
const oid = (o: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes());
const octets = (s: string): Asn1 => asn1.create(U, T.OCTETSTRING, false, s);
const bits = (s: string, unused = 0): Asn1 => asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused) + s);
const bool = (v: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
const der = (a: Asn1): string => asn1.toDer(a).getBytes();
const parseDer = (s: string): Asn1 =>
  (asn1.fromDer as unknown as (b: string, o: { strict: boolean; decodeBitStrings: boolean }) => Asn1)(s, {
    strict: true,
    decodeBitStrings: false,
  });
const kids = (a: Asn1): Asn1[] => (Array.isArray(a.value) ? a.value : []);

function time(d: Date): Asn1 {
  return d.getUTCFullYear() >= 2050
    ? asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d))
    : asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d));
}

function name(attrs: [string, string][]): Asn1 {
  return seq(attrs.map(([o, v]) => set([seq([oid(o), asn1.create(U, T.UTF8, false, Buffer.from(v, 'utf8').toString('binary'))])])));
}

function ext(o: string, critical: boolean, value: Asn1): Asn1 {
  return seq(critical ? [oid(o), bool(true), octets(der(value))] : [oid(o), octets(der(value))]);
}

/** A subjectAltName entry: a URI (SPIFFE id), a DNS name or an IP address (v4 or v6). */
export type SubjectAltName = { uri: string } | { dns: string } | { ip: string };

/** GeneralName: uniformResourceIdentifier [6], dNSName [2], iPAddress [7] (RFC 5280 4.2.1.6). */
function generalName(n: SubjectAltName): Asn1 {
  if ('uri' in n) return asn1.create(C, 6, false, n.uri);
  if ('dns' in n) return asn1.create(C, 2, false, n.dns);
  return asn1.create(C, 7, false, ipBytes(n.ip));
}

/** The 4 or 16 octets of an IP address (IPv6 with `::` and a trailing dotted IPv4 part allowed). */
function ipBytes(ip: string): string {
  const v4 = (a: string): number[] => a.split('.').map(Number);
  if (isIP(ip) === 4) return String.fromCharCode(...v4(ip));
  if (isIP(ip) !== 6) throw new Error(`invalid IP address SAN ${JSON.stringify(ip)}: give an IPv4 or IPv6 address`);
  const groups = (part: string): number[] =>
    part
      ? part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a, b, c, d] = v4(g);
          return [(a! << 8) | b!, (c! << 8) | d!];
        })
      : [];
  const [headPart, tailPart] = ip.split('::');
  const head = groups(headPart!);
  const tail = tailPart === undefined ? [] : groups(tailPart);
  const all = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return all.map((g) => String.fromCharCode(g >> 8, g & 0xff)).join('');
}

function sanUri(uri: string): Asn1 {
  return seq([generalName({ uri })]);
}

function serial(): Asn1 {
  const b = crypto.randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return asn1.create(U, T.INTEGER, false, bin(b));
}

function spkiOf(key: crypto.KeyObject): { node: Asn1; keyId: string } {
  const spki = key.export({ type: 'spki', format: 'der' });
  return { node: parseDer(bin(spki)), keyId: bin(crypto.createHash('sha1').update(spki).digest()) };
}

/** Signature algorithms accepted on CSRs and used by signers: OID -> [hash, key type]. */
const SIGNATURE_ALGORITHMS: Record<string, [hash: string, keyType: 'ec' | 'rsa']> = {
  [OID.ecdsaWithSha256]: ['sha256', 'ec'],
  [OID.ecdsaWithSha384]: ['sha384', 'ec'],
  [OID.ecdsaWithSha512]: ['sha512', 'ec'],
  [OID.sha256WithRsa]: ['sha256', 'rsa'],
  [OID.sha384WithRsa]: ['sha384', 'rsa'],
  [OID.sha512WithRsa]: ['sha512', 'rsa'],
};

/** The algorithm a key signs with: ECDSA with SHA-256 (P-256) or SHA-384 (P-384 and larger); RSA with SHA-256. */
function signatureAlgorithm(key: crypto.KeyObject): { oid: string; hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { oid: OID.sha256WithRsa, hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'prime256v1' ? { oid: OID.ecdsaWithSha256, hash: 'sha256' } : { oid: OID.ecdsaWithSha384, hash: 'sha384' };
  }
  throw new Error(`cannot sign with a ${key.asymmetricKeyType} key: use ECDSA or RSA`);
}

/** AlgorithmIdentifier: RSA's carries an explicit NULL parameter, ECDSA's none (RFC 4055, RFC 5758). */
function sigAlg(key: crypto.KeyObject): Asn1 {
  const { oid: o } = signatureAlgorithm(key);
  return key.asymmetricKeyType === 'rsa' ? seq([oid(o), asn1.create(U, T.NULL, false, '')]) : seq([oid(o)]);
}

function signed(tbs: Asn1, key: crypto.KeyObject): string {
  const sig = crypto.sign(signatureAlgorithm(key).hash, buf(der(tbs)), key);
  return der(seq([tbs, sigAlg(key), bits(bin(sig))]));
}

export function toPem(label: string, derBytes: Buffer): string {
  const b64 = derBytes.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} PEM block`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** Splits a PEM bundle into its certificates. */
export function splitPemChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith('\n') ? c : c + '\n')) ?? [];
}

export function generateKey(): crypto.KeyObject {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

interface TbsOptions {
  /** The key that will sign the certificate (its algorithm is named inside the TBS). */
  signer: crypto.KeyObject;
  issuer: Asn1;
  subject: Asn1;
  publicKey: crypto.KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Asn1[];
}

function tbsCertificate(o: TbsOptions): Asn1 {
  return seq([
    asn1.create(C, 0, true, [asn1.create(U, T.INTEGER, false, asn1.integerToDer(2).getBytes())]),
    serial(),
    sigAlg(o.signer),
    o.issuer,
    seq([time(o.notBefore), time(o.notAfter)]),
    o.subject,
    spkiOf(o.publicKey).node,
    asn1.create(C, 3, true, [seq(o.extensions)]),
  ]);
}

/** A certificate authority: its certificate, its key, and what is needed to issue. Never log it. */
export interface CertificateAuthority {
  certPem: string;
  /** PKCS#8 PEM. Keep in memory or 0600 files only. */
  keyPem: string;
  key: crypto.KeyObject;
  cert: crypto.X509Certificate;
  /** Certificates above this CA, if it is an intermediate (PEM, nearest first). */
  parentsPem: string[];
  subjectDer: string;
  keyId: string;
}

export function createRootCA(opts: { commonName?: string; organization?: string; validityDays?: number; key?: crypto.KeyObject } = {}): CertificateAuthority {
  const key = opts.key ?? generateKey();
  const pub = crypto.createPublicKey(key);
  const subject = name([
    [OID.organization, opts.organization ?? 'cluster.local'],
    [OID.commonName, opts.commonName ?? 'Ambit Root CA'],
  ]);
  const { keyId } = spkiOf(pub);
  const now = Date.now();
  const tbs = tbsCertificate({
    signer: key,
    issuer: subject,
    subject,
    publicKey: pub,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (opts.validityDays ?? 3650) * 86_400_000),
    extensions: [
      ext(OID.basicConstraints, true, seq([bool(true)])),
      ext(OID.keyUsage, true, bits('\x86', 1)), // digitalSignature, keyCertSign, cRLSign
      ext(OID.subjectKeyId, false, octets(keyId)),
    ],
  });
  const certPem = toPem('CERTIFICATE', buf(signed(tbs, key)));
  return loadCA({ certPem, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() });
}

/** Loads a CA from PEM (e.g. persisted by the controller). `certPem` may hold the CA cert followed by its parents. */
export function loadCA(opts: { certPem: string; keyPem: string }): CertificateAuthority {
  const [own, ...parents] = splitPemChain(opts.certPem);
  if (!own) throw new Error('CA certificate missing');
  const key = crypto.createPrivateKey(opts.keyPem);
  const cert = new crypto.X509Certificate(own);
  const tbs = kids(kids(parseDer(bin(cert.raw)))[0]!);
  const subjectDer = der(tbs[5]!);
  return { certPem: own, keyPem: opts.keyPem, key, cert, parentsPem: parents, subjectDer, keyId: spkiOf(cert.publicKey).keyId };
}

/** Builds a PKCS#10 CSR for `identity` (a SPIFFE URI) with a fresh ECDSA P-256 key (or the given one). */
export function createCsr(identity: string, key: crypto.KeyObject = generateKey()): { csrPem: string; keyPem: string } {
  const pub = crypto.createPublicKey(key);
  const extReq = seq([oid(OID.extensionRequest), set([seq([ext(OID.subjectAltName, true, sanUri(identity))])])]);
  const cri = seq([
    asn1.create(U, T.INTEGER, false, asn1.integerToDer(0).getBytes()),
    seq([]),
    spkiOf(pub).node,
    asn1.create(C, 0, true, [extReq]),
  ]);
  return {
    csrPem: toPem('CERTIFICATE REQUEST', buf(signed(cri, key))),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

interface ParsedCsr {
  publicKey: crypto.KeyObject;
  sans: { type: number; value: string }[];
  /** The hash of the signature algorithm the CSR names (and was verified with). */
  signatureHash: string;
}

/** Parses a CSR and verifies its self-signature; throws on any defect. */
export function parseCsr(csrPem: string): ParsedCsr {
  let root: Asn1;
  try {
    root = parseDer(bin(fromPem(csrPem, 'CERTIFICATE REQUEST')));
  } catch (e) {
    throw new Error(`invalid CSR: ${(e as Error).message}`);
  }
  const [cri, alg, sig] = kids(root);
  if (!cri || !alg || !sig || sig.type !== T.BITSTRING) throw new Error('invalid CSR: malformed structure');
  const algOidNode = kids(alg)[0];
  const algOid = algOidNode?.type === T.OID ? asn1.derToOid(algOidNode.value as string) : undefined;
  const algorithm = algOid ? SIGNATURE_ALGORITHMS[algOid] : undefined;
  if (!algorithm)
    throw new Error(`invalid CSR: unsupported signature algorithm ${algOid ?? '(none)'}: sign it with ECDSA or RSA (PKCS#1 v1.5) and SHA-256/384/512`);
  const criKids = kids(cri);
  const spki = criKids[2];
  if (!spki) throw new Error('invalid CSR: no public key');
  let publicKey: crypto.KeyObject;
  try {
    publicKey = crypto.createPublicKey({ key: buf(der(spki)), format: 'der', type: 'spki' });
  } catch {
    throw new Error('invalid CSR: unreadable public key');
  }
  if (publicKey.asymmetricKeyType !== algorithm[1])
    throw new Error(`invalid CSR: signature algorithm ${algOid} does not fit its ${publicKey.asymmetricKeyType} key`);
  const sigBytes = buf((sig.value as string).slice(1));
  let ok = false;
  try {
    ok = crypto.verify(algorithm[0], buf(der(cri)), publicKey, sigBytes);
  } catch {
    ok = false;
  }
  if (!ok) throw new Error('invalid CSR: signature does not verify');
  const sans: { type: number; value: string }[] = [];
  const attrs = criKids[3];
  for (const attr of attrs ? kids(attrs) : []) {
    const [o, values] = kids(attr);
    if (!o || asn1.derToOid(o.value as string) !== OID.extensionRequest || !values) continue;
    for (const exts of kids(values)) {
      for (const e of kids(exts)) {
        const parts = kids(e);
        if (asn1.derToOid(parts[0]!.value as string) !== OID.subjectAltName) continue;
        const gn = parseDer(parts[parts.length - 1]!.value as string);
        for (const n of kids(gn)) sans.push({ type: n.type, value: typeof n.value === 'string' ? n.value : '' });
      }
    }
  }
  return { publicKey, sans, signatureHash: algorithm[0] };
}

/**
 * Signs a workload CSR. Verifies the CSR's signature and that its only SAN is the URI `identity`.
 * Returns the chain, leaf first, then the CA certificate (and its parents), as Istio's `cert_chain`.
 */
export function signCsr(ca: CertificateAuthority, csrPem: string, opts: { identity: string; ttlSeconds?: number }): string[] {
  const csr = parseCsr(csrPem);
  if (csr.sans.length !== 1 || csr.sans[0]!.type !== 6 || csr.sans[0]!.value !== opts.identity) {
    const got = csr.sans.map((s) => (s.type === 6 ? s.value : `<type ${s.type}>`)).join(', ') || 'none';
    throw new Error(`CSR identity mismatch: want ${opts.identity}, got ${got}`);
  }
  const leaf = issueLeaf(ca, csr.publicKey, {
    sans: [{ uri: opts.identity }],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    authorityKeyId: true,
    ttlSeconds: opts.ttlSeconds ?? 86_400,
  });
  return [leaf.certPem, ca.certPem, ...ca.parentsPem];
}

const EXT_KEY_USAGE = { serverAuth: OID.serverAuth, clientAuth: OID.clientAuth } as const;

interface LeafSpec {
  /** Subject CN; none gives an empty subject, and then the SAN extension is critical (RFC 5280 4.2.1.6). */
  commonName?: string;
  sans: SubjectAltName[];
  extKeyUsage: (keyof typeof EXT_KEY_USAGE)[];
  /** Whether to name the issuing key (authorityKeyIdentifier), as workload leaves do. */
  authorityKeyId: boolean;
  /** Capped at the CA's own expiry. */
  ttlSeconds: number;
}

/** Issues an end-entity certificate for `publicKey`: keyUsage digitalSignature+keyEncipherment, CA:FALSE. */
function issueLeaf(ca: CertificateAuthority, publicKey: crypto.KeyObject, spec: LeafSpec): { certPem: string; notAfter: Date } {
  const now = Date.now();
  const notAfter = new Date(Math.min(now + spec.ttlSeconds * 1000, new Date(ca.cert.validTo).getTime()));
  const tbs = tbsCertificate({
    signer: ca.key,
    issuer: parseDer(ca.subjectDer),
    subject: spec.commonName === undefined ? seq([]) : name([[OID.commonName, spec.commonName]]),
    publicKey,
    notBefore: new Date(now - 60_000),
    notAfter,
    extensions: [
      ext(OID.keyUsage, true, bits('\xa0', 5)), // digitalSignature, keyEncipherment
      ext(OID.extKeyUsage, false, seq(spec.extKeyUsage.map((u) => oid(EXT_KEY_USAGE[u])))),
      ext(OID.basicConstraints, true, seq([])),
      ...(spec.authorityKeyId ? [ext(OID.authorityKeyId, false, seq([asn1.create(C, 0, false, ca.keyId)]))] : []),
      ext(OID.subjectAltName, spec.commonName === undefined, seq(spec.sans.map(generalName))),
    ],
  });
  return { certPem: toPem('CERTIFICATE', buf(signed(tbs, ca.key))), notAfter };
}

/** A TLS server's certificate and its fresh key. Never log it. */
export interface ServingCertificate {
  certPem: string;
  /** PKCS#8 PEM; in memory only. */
  keyPem: string;
  notAfter: Date;
}

/**
 * Issues a TLS serving certificate (serverAuth only) for a fresh ECDSA P-256 key: subject CN = the first DNS name
 * (`istiod` when there is none), SANs = `dnsNames` then `ipAddresses` (entries that are not IP addresses are
 * skipped), valid `ttlSeconds` (default 30 days) but never past the CA's own expiry.
 */
export function issueServingCertificate(
  ca: CertificateAuthority,
  opts: { dnsNames: string[]; ipAddresses?: string[]; ttlSeconds?: number },
): ServingCertificate {
  const key = generateKey();
  const { certPem, notAfter } = issueLeaf(ca, crypto.createPublicKey(key), {
    commonName: opts.dnsNames[0] ?? 'istiod',
    sans: [...opts.dnsNames.map((dns) => ({ dns })), ...(opts.ipAddresses ?? []).filter((ip) => isIP(ip)).map((ip) => ({ ip }))],
    extKeyUsage: ['serverAuth'],
    authorityKeyId: false,
    ttlSeconds: opts.ttlSeconds ?? 30 * 86_400,
  });
  return { certPem, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), notAfter };
}

/** Creates an intermediate CA signed by `parent` (for tests of longer chains). */
export function createIntermediateCA(parent: CertificateAuthority, opts: { commonName?: string; validityDays?: number } = {}): CertificateAuthority {
  const key = generateKey();
  const pub = crypto.createPublicKey(key);
  const now = Date.now();
  const tbs = tbsCertificate({
    signer: parent.key,
    issuer: parseDer(parent.subjectDer),
    subject: name([[OID.commonName, opts.commonName ?? 'Ambit Intermediate CA']]),
    publicKey: pub,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (opts.validityDays ?? 365) * 86_400_000),
    extensions: [
      ext(OID.basicConstraints, true, seq([bool(true)])),
      ext(OID.keyUsage, true, bits('\x86', 1)),
      ext(OID.subjectKeyId, false, octets(spkiOf(pub).keyId)),
      ext(OID.authorityKeyId, false, seq([asn1.create(C, 0, false, parent.keyId)])),
    ],
  });
  const certPem = toPem('CERTIFICATE', buf(signed(tbs, parent.key)));
  return loadCA({ certPem: certPem + [parent.certPem, ...parent.parentsPem].join(''), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() });
}

/** The URI SANs of a certificate (PEM). */
export function certificateUris(certPem: string): string[] {
  const c = new crypto.X509Certificate(certPem);
  return (c.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((p) => p.startsWith('URI:'))
    .map((p) => p.slice(4));
}
