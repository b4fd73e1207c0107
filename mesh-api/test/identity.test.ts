import * as crypto from 'node:crypto';
import test from 'ava';
import forge from 'node-forge';
import { CertificateManager, LocalCA, certificateUris, createCsr, createIntermediateCA, createRootCA, parseCsr, signCsr, type CertificateSource } from '../src/index.js';

const ID = 'spiffe://cluster.local/ns/default/sa/productpage';

test('signed leaf chains to the root, has one critical URI SAN and an empty subject', (t) => {
  const ca = createRootCA({ commonName: 'test root', validityDays: 10 });
  const { csrPem, keyPem } = createCsr(ID);
  const [leafPem, caPem] = signCsr(ca, csrPem, { identity: ID, ttlSeconds: 3600 });
  const leaf = new crypto.X509Certificate(leafPem!);
  t.is(caPem, ca.certPem);
  t.true(leaf.verify(ca.cert.publicKey));
  t.true(leaf.checkIssued(ca.cert));
  t.falsy(leaf.subject);
  t.is(leaf.subjectAltName, `URI:${ID}`);
  t.deepEqual(certificateUris(leafPem!), [ID]);
  t.false(leaf.ca);
  t.true(leaf.checkPrivateKey(crypto.createPrivateKey(keyPem)));
  t.is((leaf.publicKey.asymmetricKeyDetails as { namedCurve?: string }).namedCurve, 'prime256v1');
  const lifetime = new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime();
  t.true(lifetime > 3600_000 && lifetime <= 3660_000 + 1000);
  // the SAN extension is critical
  const tbs = (forge.asn1.fromDer(leaf.raw.toString('binary')).value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[];
  const exts = ((tbs[7]!.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[]).map((e) => e.value as forge.asn1.Asn1[]);
  const san = exts.find((e) => forge.asn1.derToOid(e[0]!.value as string) === '2.5.29.17')!;
  t.is(san[1]!.value, '\xff');
  t.true(ca.cert.ca);
});

test('CSR tampering is rejected', (t) => {
  const ca = createRootCA();
  const { csrPem } = createCsr(ID);
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  // flip a byte inside the SAN URI
  const at = der.indexOf(Buffer.from('productpage'));
  der[at] = der[at]! ^ 0x01;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.throws(() => signCsr(ca, tampered, { identity: ID }), { message: /signature does not verify/ });
  t.throws(() => parseCsr('garbage'), { message: /invalid CSR/ });
});

test('CSR for another identity is rejected', (t) => {
  const ca = createRootCA();
  const { csrPem } = createCsr('spiffe://cluster.local/ns/default/sa/other');
  t.throws(() => signCsr(ca, csrPem, { identity: ID }), { message: `CSR identity mismatch: want ${ID}, got spiffe://cluster.local/ns/default/sa/other` });
});

test('intermediate CA chains verify', (t) => {
  const root = createRootCA();
  const inter = createIntermediateCA(root);
  const { csrPem } = createCsr(ID);
  const chain = signCsr(inter, csrPem, { identity: ID });
  t.is(chain.length, 3);
  const leaf = new crypto.X509Certificate(chain[0]!);
  t.true(leaf.verify(inter.cert.publicKey));
  t.true(inter.cert.verify(root.cert.publicKey));
});

test('CertificateManager fetches once, verifies the identity, keeps the valid cert when renewal fails', async (t) => {
  const ca = new LocalCA(createRootCA(), 2); // 2s certificates: renewal at ~1s (+60s backdating → renews soon)
  let calls = 0;
  let failing = false;
  const source: CertificateSource = {
    fetch: async (id, csr) => {
      calls++;
      if (failing) throw new Error('CA unavailable');
      return ca.fetch(id, csr);
    },
  };
  const logs: string[] = [];
  const m = new CertificateManager(source, { initialBackoffMs: 20, maxBackoffMs: 40, log: (_l, msg) => logs.push(msg) });
  const [a, b] = await Promise.all([m.get(ID), m.get(ID)]);
  t.is(a, b);
  t.is(calls, 1);
  t.is(m.dump()[0]!.state, 'Available');
  t.false(JSON.stringify(m.dump()).includes('PRIVATE KEY'));
  failing = true;
  const cur = m.current(ID);
  // Renewal is due (half of validity passed because of backdating): it fails and backs off, cert is kept.
  await new Promise((r) => setTimeout(r, 300));
  t.true(calls > 2);
  t.is(m.current(ID), cur);
  t.true(logs.some((l) => l.includes('CA unavailable')));
  m.close();
});

test('CertificateManager rejects a CA answer for the wrong identity', async (t) => {
  const ca = new LocalCA(createRootCA());
  const m = new CertificateManager({ fetch: async (_id, _csr) => ca.fetch('spiffe://cluster.local/ns/x/sa/y', createCsr('spiffe://cluster.local/ns/x/sa/y').csrPem) }, { initialBackoffMs: 10_000 });
  await t.throwsAsync(m.get(ID), { message: /identity mismatch/ });
  m.close();
});
