// A serving certificate from the X.509 module, checked the way a client sees it: a real TLS handshake on loopback
// that trusts only the issuing CA, then node:tls's own name check for each DNS name and IP address.
import * as crypto from 'node:crypto';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { createIntermediateCA, createRootCA, issueServingCertificate, type CertificateAuthority, type ServingCertificate } from '../src/index.js';

const DNS = ['istiod', 'istiod.istio-system', 'istiod.istio-system.svc', 'istiod.istio-system.svc.cluster.local', 'localhost'];
const IPS = ['127.0.0.1', '::1', '::ffff:10.1.2.3'];

async function serve(t: ExecutionContext, cert: ServingCertificate, chainPem = ''): Promise<number> {
  const server = tls.createServer({ cert: cert.certPem + chainPem, key: cert.keyPem }, (s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

/** Connects trusting only `caPem` and checks the peer against `name`; resolves to what the server sent. */
function handshake(port: number, caPem: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: caPem, checkServerIdentity: (_host, peer) => tls.checkServerIdentity(name, peer) });
    let body = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (body += d));
    s.on('end', () => resolve(body));
    s.on('error', reject);
  });
}

const cas: [string, () => CertificateAuthority][] = [
  ['ECDSA P-256', () => createRootCA()],
  ['ECDSA P-384', () => createRootCA({ key: crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey })],
  ['RSA', () => createRootCA({ key: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey })],
];

for (const [kind, make] of cas) {
  test(`a serving certificate from a ${kind} CA verifies over TLS for each of its DNS names and IPs`, async (t) => {
    const ca = make();
    const port = await serve(t, issueServingCertificate(ca, { dnsNames: DNS, ipAddresses: IPS }));
    for (const name of [...DNS, ...IPS]) t.is(await handshake(port, ca.certPem, name), 'ok', name);
  });
}

test('a serving certificate is refused for a name or address it does not carry', async (t) => {
  const ca = createRootCA();
  const port = await serve(t, issueServingCertificate(ca, { dnsNames: DNS, ipAddresses: ['127.0.0.1'] }));
  for (const name of ['istiod.default.svc', 'evil.localhost', '127.0.0.2', '::1'])
    await t.throwsAsync(handshake(port, ca.certPem, name), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, name);
});

test('a serving certificate is refused by a client that trusts another CA', async (t) => {
  const port = await serve(t, issueServingCertificate(createRootCA(), { dnsNames: ['localhost'] }));
  const err = await t.throwsAsync(handshake(port, createRootCA().certPem, 'localhost'));
  t.regex((err as NodeJS.ErrnoException).code ?? '', /VERIFY|SIGNATURE|ISSUER/);
});

test('a serving certificate from an intermediate verifies against the root when the server sends the chain', async (t) => {
  const root = createRootCA();
  const mid = createIntermediateCA(root);
  const port = await serve(t, issueServingCertificate(mid, { dnsNames: ['localhost'] }), mid.certPem);
  t.is(await handshake(port, root.certPem, 'localhost'), 'ok');
});

test('a serving certificate is for servers only, named after its first DNS name, and ends with its CA', (t) => {
  const ca = createRootCA({ validityDays: 1 });
  const s = issueServingCertificate(ca, { dnsNames: ['a.example', 'b.example'], ipAddresses: ['not-an-ip', '10.0.0.1'], ttlSeconds: 7 * 86_400 });
  const cert = new crypto.X509Certificate(s.certPem);
  t.is(cert.subject, 'CN=a.example');
  t.is(cert.subjectAltName, 'DNS:a.example, DNS:b.example, IP Address:10.0.0.1');
  t.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  t.false(cert.ca);
  t.true(cert.checkPrivateKey(crypto.createPrivateKey(s.keyPem)));
  t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.is(s.notAfter.getTime(), new Date(ca.cert.validTo).getTime());
  t.is(new Date(cert.validTo).getTime(), new Date(ca.cert.validTo).getTime());
});
