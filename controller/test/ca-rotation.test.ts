// cacerts changes and root rotation without a restart (issue 12): the CA re-reads its Secret, signs with the new
// authority at once, keeps trusting the old root during the overlap, keeps live connections, and refuses a
// broken Secret while serving on with the old one.
import test from 'ava';
import * as crypto from 'node:crypto';
import http2 from 'node:http2';
import tls from 'node:tls';
import { createCsr, createIntermediateCA, createRootCA, type CertificateAuthority } from '@ambit/mesh-api';
import { CaComponent, issueCertificate, staticPodLookup } from '../src/ca/index.js';
import { fakeReviewer, memorySecrets, token } from './ca-fixtures.js';

const ID = 'spiffe://cluster.local/ns/default/sa/sleep';
const KEY = 'istio-system/cacerts';

const cacerts = (signer: CertificateAuthority, root: CertificateAuthority, extraRoots: CertificateAuthority[] = []) => ({
  'ca-cert.pem': signer.certPem,
  'ca-key.pem': signer.keyPem,
  'cert-chain.pem': signer === root ? '' : signer.certPem + root.certPem,
  'root-cert.pem': [root, ...extraRoots].map((r) => r.certPem).join(''),
});

async function start(t: import('ava').ExecutionContext, data: Record<string, string>, over: { reloadIntervalMs?: number; servingSwitchDelayMs?: number } = {}) {
  const secrets = memorySecrets({ [KEY]: data });
  const logs: string[] = [];
  const ca = new CaComponent({
    port: 0,
    host: '127.0.0.1',
    tokenReviewer: fakeReviewer,
    pods: staticPodLookup(() => []),
    secrets,
    reloadIntervalMs: 0,
    ...over,
    log: { info: (m: string) => void logs.push(m), warn: (m: string) => void logs.push(m), debug() {} } as never,
  });
  await ca.start();
  t.teardown(() => ca.stop());
  const issue = () =>
    issueCertificate(
      { authenticator: ca.authenticator, authority: () => ca.authority, roots: () => ca.trustBundle, pods: ca.pods },
      { authorization: `Bearer ${token('default', 'sleep')}`, body: { csr: createCsr(ID).csrPem } },
    );
  return { ca, secrets, logs, issue, address: `https://localhost:${ca.server.port}` };
}

/** The fingerprint of the certificate that issued the serving certificate a new TLS connection gets. */
async function servingIssuer(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['h2'] }, () => {
      const issuer = s.getPeerCertificate(true).issuerCertificate;
      s.destroy();
      resolve(issuer.fingerprint256);
    });
    s.on('error', reject);
  });
}
const fp = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;

test('a new intermediate under the same root: signs at once, serves from it at once, live connections stay', async (t) => {
  const root = createRootCA({ commonName: 'Corp Root' });
  const i1 = createIntermediateCA(root, { commonName: 'Mesh 1' });
  const i2 = createIntermediateCA(root, { commonName: 'Mesh 2' });
  const env = await start(t, cacerts(i1, root));
  const live = http2.connect(env.address, { ca: root.certPem });
  t.teardown(() => live.destroy());
  await new Promise((r) => live.once('connect', r));
  t.is(await servingIssuer(env.ca.server.port!, root.certPem), fp(i1.certPem));

  env.secrets.data[KEY] = cacerts(i2, root);
  t.true(await env.ca.reload());
  t.false(await env.ca.reload(), 'nothing changed the second time');
  const out = await env.issue();
  t.deepEqual(out.certChain.slice(1), [i2.certPem, root.certPem]);
  t.deepEqual(out.roots, [root.certPem]);
  t.is(await servingIssuer(env.ca.server.port!, root.certPem), fp(i2.certPem));
  // The connection opened before the change still answers.
  const req = live.request({ ':method': 'GET', ':path': '/v1/certificates' });
  req.end();
  t.is(await new Promise<number>((r) => req.on('response', (h) => r(Number(h[':status'])))), 405);
  t.true(env.logs.includes('CA reloaded'));
});

test('a new root: both roots trusted during the overlap, new leaves chain to the new root, old leaves still verify', async (t) => {
  const r1 = createRootCA({ commonName: 'Root 1' });
  const r2 = createRootCA({ commonName: 'Root 2' });
  const env = await start(t, cacerts(r1, r1), { servingSwitchDelayMs: 60_000 });
  const before = await env.issue();
  env.secrets.data[KEY] = cacerts(r2, r2);
  t.true(await env.ca.reload());
  const after = await env.issue();
  t.deepEqual(after.roots, [r2.certPem, r1.certPem]);
  t.is(after.certChain[after.certChain.length - 1], r2.certPem);
  const verifies = (chain: string[], roots: string[]) => roots.some((r) => new crypto.X509Certificate(chain[0]!).verify(new crypto.X509Certificate(r).publicKey));
  t.true(verifies(before.certChain, after.roots), 'a leaf from the old root is still trusted');
  t.true(verifies(after.certChain, after.roots));
  // Clients that still trust only the old root keep connecting until the switch delay passes.
  t.is(await servingIssuer(env.ca.server.port!, r1.certPem), fp(r1.certPem));
});

test('after the switch delay the serving certificate comes from the new root', async (t) => {
  const r1 = createRootCA({ commonName: 'Root 1' });
  const r2 = createRootCA({ commonName: 'Root 2' });
  const env = await start(t, cacerts(r1, r1), { servingSwitchDelayMs: 1 });
  env.secrets.data[KEY] = cacerts(r2, r2);
  await env.ca.reload();
  for (let i = 0; i < 100 && !env.logs.includes('renewed serving certificate'); i++) await new Promise((r) => setTimeout(r, 20));
  t.is(await servingIssuer(env.ca.server.port!, r2.certPem), fp(r2.certPem));
});

test('a root-cert.pem listing two roots (a staged rotation): both are trusted; the chain ends at its own', async (t) => {
  const r1 = createRootCA({ commonName: 'Root 1' });
  const r2 = createRootCA({ commonName: 'Root 2' });
  const i1 = createIntermediateCA(r1, { commonName: 'Mesh 1' });
  const env = await start(t, cacerts(i1, r1, [r2]));
  const out = await env.issue();
  t.deepEqual(out.certChain.slice(1), [i1.certPem, r1.certPem]);
  t.deepEqual(out.roots, [r1.certPem, r2.certPem]);
});

test('a broken cacerts is refused with a log line; the current authority keeps signing', async (t) => {
  const r1 = createRootCA({ commonName: 'Root 1' });
  const other = createRootCA();
  const env = await start(t, cacerts(r1, r1));
  env.secrets.data[KEY] = { ...cacerts(r1, r1), 'ca-key.pem': other.keyPem };
  await t.throwsAsync(env.ca.reload(), { message: 'ca-key.pem does not belong to ca-cert.pem' });
  t.true(env.logs.includes('CA secret changed but does not load; keeping the current authority'));
  const out = await env.issue();
  t.is(out.certChain[out.certChain.length - 1], r1.certPem);
});

test('a changed cacerts is picked up by the periodic re-read, without a call', async (t) => {
  const r1 = createRootCA({ commonName: 'Root 1' });
  const r2 = createRootCA({ commonName: 'Root 2' });
  const env = await start(t, cacerts(r1, r1), { reloadIntervalMs: 20 });
  env.secrets.data[KEY] = cacerts(r2, r2);
  for (let i = 0; i < 250 && !env.logs.includes('CA reloaded'); i++) await new Promise((r) => setTimeout(r, 20));
  const out = await env.issue();
  t.is(out.certChain[out.certChain.length - 1], r2.certPem);
});
