// The TLS certificate :15012 serves (`istiod.istio-system.svc` and friends), signed by the mesh CA, so clients
// that trust the mesh root (the `istio-ca-root-cert` ConfigMap) can verify the controller, as with istiod.
// Workload certificates carry only a URI SAN; this one needs DNS/IP SANs, hence its own small encoder
// (node-forge ASN.1, signed with node:crypto: ECDSA with SHA-256 (P-256) or SHA-384 (P-384), or RSA with SHA-256,
// as the issuing CA's key requires).

import * as crypto from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

const asn1 = forge.asn1;
type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const C = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

const bin = (b: Buffer): string => b.toString('binary');
const seq = (v: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, v);
const set = (v: Asn1[]): Asn1 => asn1.create(U, T.SET, true, v);
const oid = (o: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes());
const octets = (s: string): Asn1 => asn1.create(U, T.OCTETSTRING, false, s);
const bool = (v: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
const der = (a: Asn1): string => asn1.toDer(a).getBytes();
const fromDer = (s: string): Asn1 => asn1.fromDer(s);
const ext = (o: string, critical: boolean, value: Asn1): Asn1 =>
  seq(critical ? [oid(o), bool(true), octets(der(value))] : [oid(o), octets(der(value))]);
const time = (d: Date): Asn1 =>
  d.getUTCFullYear() >= 2050
    ? asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d))
    : asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d));

/** What is needed of the issuing CA (the identity module's `CertificateAuthority` has these). */
export interface IssuerKey {
  key: crypto.KeyObject;
  cert: crypto.X509Certificate;
}

export interface ServingCertificate {
  certPem: string;
  /** PKCS#8 PEM; in memory only. */
  keyPem: string;
  notAfter: Date;
}

/** The names istiod's serving certificate carries, for a controller in `namespace`. */
export function servingNames(namespace: string, service = 'istiod', domain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${domain}`];
}

export function issueServingCertificate(
  issuer: IssuerKey,
  opts: { dnsNames: string[]; ipAddresses?: string[]; ttlSeconds?: number },
): ServingCertificate {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const notAfter = new Date(Math.min(now + (opts.ttlSeconds ?? 30 * 86_400) * 1000, new Date(issuer.cert.validTo).getTime()));
  // TBSCertificate: [0] version, serial, sigAlg, issuer, validity, subject, ...: the issuer's subject is index 5.
  const issuerTbs = (fromDer(bin(issuer.cert.raw)).value as Asn1[])[0]!;
  const issuerName = (issuerTbs.value as Asn1[])[5]!;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const names: Asn1[] = [
    ...opts.dnsNames.map((n) => asn1.create(C, 2, false, n)),
    ...(opts.ipAddresses ?? []).filter((ip) => isIP(ip)).map((ip) => asn1.create(C, 7, false, ipBytes(ip))),
  ];
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const rsa = issuer.key.asymmetricKeyType === 'rsa';
  const p256 = issuer.key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  const hash = rsa || p256 ? 'sha256' : 'sha384';
  const sigAlg = rsa
    ? seq([oid('1.2.840.113549.1.1.11'), asn1.create(U, T.NULL, false, '')])
    : seq([oid(p256 ? '1.2.840.10045.4.3.2' : '1.2.840.10045.4.3.3')]);
  const tbs = seq([
    asn1.create(C, 0, true, [asn1.create(U, T.INTEGER, false, asn1.integerToDer(2).getBytes())]),
    asn1.create(U, T.INTEGER, false, bin(serial)),
    sigAlg,
    issuerName,
    seq([time(new Date(now - 60_000)), time(notAfter)]),
    seq([set([seq([oid('2.5.4.3'), asn1.create(U, T.UTF8, false, opts.dnsNames[0] ?? 'istiod')])])]),
    fromDer(bin(spki)),
    asn1.create(C, 3, true, [
      seq([
        ext('2.5.29.15', true, asn1.create(U, T.BITSTRING, false, '\x05\xa0')), // digitalSignature, keyEncipherment
        ext('2.5.29.37', false, seq([oid('1.3.6.1.5.5.7.3.1')])), // serverAuth
        ext('2.5.29.19', true, seq([])),
        ext('2.5.29.17', false, seq(names)),
      ]),
    ]),
  ]);
  const sig = crypto.sign(hash, Buffer.from(der(tbs), 'binary'), issuer.key);
  const cert = seq([tbs, sigAlg, asn1.create(U, T.BITSTRING, false, '\x00' + bin(sig))]);
  const b64 = Buffer.from(der(cert), 'binary').toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    notAfter,
  };
}

function ipBytes(ip: string): string {
  if (isIP(ip) === 4) return String.fromCharCode(...ip.split('.').map(Number));
  const parts = ip.split('::');
  const head = parts[0] ? parts[0].split(':') : [];
  const tail = parts.length > 1 && parts[1] ? parts[1].split(':') : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.map((g) => String.fromCharCode(parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff)).join('');
}
