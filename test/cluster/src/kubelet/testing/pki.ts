// Certificates for kubelet server tests: a cluster CA, the kubelet's serving certificate, the apiserver's kubelet
// client certificate, and a client certificate from a CA the kubelet does not trust. Self-contained (node:crypto
// keys, node-forge signatures) so the tests do not depend on the cluster PKI module's shape.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface TestCert {
  certPem: string;
  keyPem: string;
}

export interface KubeletTestPKI {
  ca: TestCert;
  server: TestCert;
  client: TestCert;
  strangerClient: TestCert;
}

function keys(): { pub: forge.pki.PublicKey; priv: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { pub: forge.pki.publicKeyFromPem(publicKey), priv: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, keyPem: privateKey };
}

function cert(
  cn: string,
  pub: forge.pki.PublicKey,
  signer: { priv: forge.pki.rsa.PrivateKey; subject?: forge.pki.CertificateField[] },
  extensions: object[],
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  c.serialNumber = serial.toString('hex');
  c.validity.notBefore = new Date(Date.now() - 3600_000);
  c.validity.notAfter = new Date(Date.now() + 86400_000);
  const subject = [{ shortName: 'CN', value: cn }];
  c.setSubject(subject);
  c.setIssuer(signer.subject ?? subject);
  c.setExtensions(extensions);
  c.sign(signer.priv, forge.md.sha256.create());
  return c;
}

function ca(cn: string): { pem: TestCert; priv: forge.pki.rsa.PrivateKey; subject: forge.pki.CertificateField[] } {
  const k = keys();
  const c = cert(cn, k.pub, { priv: k.priv }, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  return { pem: { certPem: forge.pki.certificateToPem(c), keyPem: k.keyPem }, priv: k.priv, subject: c.subject.attributes };
}

function leaf(issuer: ReturnType<typeof ca>, cn: string, usage: 'server' | 'client'): TestCert {
  const k = keys();
  const ext: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' },
  ];
  if (usage === 'server') ext.push({ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] });
  const c = cert(cn, k.pub, issuer, ext);
  return { certPem: forge.pki.certificateToPem(c), keyPem: k.keyPem };
}

export function kubeletTestPKI(): KubeletTestPKI {
  const cluster = ca('kubelet-test-ca');
  const other = ca('someone-else');
  return {
    ca: cluster.pem,
    server: leaf(cluster, 'system:node:test', 'server'),
    client: leaf(cluster, 'kube-apiserver-kubelet-client', 'client'),
    strangerClient: leaf(other, 'mallory', 'client'),
  };
}
