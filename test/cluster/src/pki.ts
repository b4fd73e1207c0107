// The local cluster's PKI: one cluster CA and the leaf certificates the control plane and the virtual nodes use.
// Keys come from node:crypto (fast, native) and are handed to node-forge only to sign certificates. Private keys
// are written 0600 and never logged.
import { generateKeyPair as generateKeyPairCb, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface KeyPair {
  /** PEM, PKCS#1 ("RSA PRIVATE KEY"). */
  keyPem: string;
  /** PEM, SPKI ("PUBLIC KEY"). */
  publicKeyPem: string;
}

export interface CertAndKey extends KeyPair {
  certPem: string;
}

/** Where a written certificate and its key live. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface LeafSpec {
  commonName: string;
  organizations?: string[];
  /** DNS names and IP addresses, mixed: IPs are recognised and written as IP SANs. */
  altNames?: string[];
  usage: 'server' | 'client' | 'both';
  days?: number;
}

export function generateKeyPair(bits = 2048): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { keyPem: privateKey, publicKeyPem: publicKey };
}

/** RSA key pair, generated off the main thread (several run in parallel on libuv's pool). */
export function generateKeyPairAsync(bits = 2048): Promise<KeyPair> {
  return new Promise((resolve, reject) =>
    generateKeyPairCb(
      'rsa',
      {
        modulusLength: bits,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ keyPem: privateKey, publicKeyPem: publicKey })),
    ),
  );
}

function serial(): string {
  // Positive 16-byte serial (leading nibble cleared so the DER integer is not negative).
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
}

function subject(commonName: string, organizations: string[] = []): forge.pki.CertificateField[] {
  return [
    ...organizations.map((value) => ({ shortName: 'O', value })),
    { shortName: 'CN', value: commonName },
  ];
}

/** A self-signed CA (synchronous; createCAAsync generates the key off the main thread). */
export function createCA(commonName = 'ambit-cluster-ca', days = 3650, keys: KeyPair = generateKeyPair()): CertAndKey {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serial();
  validity(cert, days);
  const attrs = subject(commonName);
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.keyPem), forge.md.sha256.create());
  return { ...keys, certPem: forge.pki.certificateToPem(cert) };
}

export async function createCAAsync(commonName = 'ambit-cluster-ca', days = 3650): Promise<CertAndKey> {
  return createCA(commonName, days, await generateKeyPairAsync());
}

export async function issueLeafAsync(ca: CertAndKey, spec: LeafSpec): Promise<CertAndKey> {
  return issueLeaf(ca, spec, await generateKeyPairAsync());
}

/** A leaf certificate signed by `ca` (synchronous; issueLeafAsync generates the key off the main thread). */
export function issueLeaf(ca: CertAndKey, spec: LeafSpec, keys: KeyPair = generateKeyPair()): CertAndKey {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serial();
  validity(cert, spec.days ?? 365);
  cert.setSubject(subject(spec.commonName, spec.organizations));
  cert.setIssuer(caCert.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: spec.usage !== 'client',
      clientAuth: spec.usage !== 'server',
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (spec.altNames?.length) {
    extensions.push({
      name: 'subjectAltName',
      altNames: spec.altNames.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { ...keys, certPem: forge.pki.certificateToPem(cert) };
}

/** SANs of the kube-apiserver serving certificate. */
export const APISERVER_SANS = [
  '127.0.0.1',
  '10.244.0.1',
  '10.96.0.1',
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

export interface ClusterPKI {
  dir: string;
  ca: CertFiles;
  apiserver: CertFiles;
  admin: CertFiles;
  kubeletClient: CertFiles;
  /** Service-account token signing key pair: keyFile is the private key, certFile the public key (PEM). */
  serviceAccount: CertFiles;
  /** Kubelet serving certificate per virtual node name. */
  kubelets: Record<string, CertFiles>;
  /** PEM contents for embedding in kubeconfigs. */
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
}

export async function writeKeyFile(path: string, pem: string): Promise<void> {
  await writeFile(path, pem, { mode: 0o600 });
  await chmod(path, 0o600); // mode is ignored when the file already exists
}

async function writePair(dir: string, name: string, ck: CertAndKey): Promise<CertFiles> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await writeFile(certFile, ck.certPem, { mode: 0o644 });
  await writeKeyFile(keyFile, ck.keyPem);
  return { certFile, keyFile };
}

export interface KubeletIdentity {
  name: string;
  address: string;
}

/** Issue a kubelet serving certificate for one virtual node (IP SAN = the address the apiserver dials). */
export async function writeKubeletCert(dir: string, ca: CertAndKey, node: KubeletIdentity): Promise<CertFiles> {
  const leaf = await issueLeafAsync(ca, {
    commonName: `system:node:${node.name}`,
    organizations: ['system:nodes'],
    altNames: [node.address, node.name],
    // Also the node's client certificate (system:node:<name>, group system:nodes) for a real kubelet.
    usage: 'both',
  });
  return writePair(dir, `kubelet-${node.name}`, leaf);
}

/** Create the whole PKI in `dir` (created 0700). */
export async function createClusterPKI(dir: string, nodes: KubeletIdentity[] = []): Promise<ClusterPKI & { caPair: CertAndKey }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ca = await createCAAsync();
  const [caFiles, apiserver, admin, kubeletClient, sa, kubeletFiles] = await Promise.all([
    writePair(dir, 'ca', ca),
    issueLeafAsync(ca, { commonName: 'kube-apiserver', altNames: APISERVER_SANS, usage: 'server' }),
    issueLeafAsync(ca, { commonName: 'kubernetes-admin', organizations: ['system:masters'], usage: 'client' }),
    issueLeafAsync(ca, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' }),
    generateKeyPairAsync(),
    Promise.all(nodes.map((node) => writeKubeletCert(dir, ca, node))),
  ]);
  const saFiles = { certFile: join(dir, 'sa.pub'), keyFile: join(dir, 'sa.key') };
  await writeFile(saFiles.certFile, sa.publicKeyPem, { mode: 0o644 });
  await writeKeyFile(saFiles.keyFile, sa.keyPem);
  const kubelets: Record<string, CertFiles> = {};
  nodes.forEach((node, i) => (kubelets[node.name] = kubeletFiles[i]!));
  return {
    dir,
    ca: caFiles,
    apiserver: await writePair(dir, 'apiserver', apiserver),
    admin: await writePair(dir, 'admin', admin),
    kubeletClient: await writePair(dir, 'apiserver-kubelet-client', kubeletClient),
    serviceAccount: saFiles,
    kubelets,
    caPem: ca.certPem,
    adminCertPem: admin.certPem,
    adminKeyPem: admin.keyPem,
    caPair: ca,
  };
}
