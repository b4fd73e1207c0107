// Unit: the cluster PKI (no root, no cluster).
import test from 'ava';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APISERVER_SANS, createClusterPKI } from '../src/pki.js';

const nodes = [
  { name: 'ambit-node-1', address: '10.244.0.11' },
  { name: 'ambit-node-2', address: '10.244.0.12' },
];

async function withPKI(fn: (pki: Awaited<ReturnType<typeof createClusterPKI>>) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-pki-'));
  try {
    await fn(await createClusterPKI(join(dir, 'pki'), nodes));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const cert = async (file: string) => new X509Certificate(await readFile(file));

test('every certificate chains to the cluster CA', async (t) => {
  await withPKI(async (pki) => {
    const ca = await cert(pki.ca.certFile);
    t.true(ca.ca);
    t.true(ca.verify(ca.publicKey));
    const leaves = [pki.apiserver, pki.admin, pki.kubeletClient, ...Object.values(pki.kubelets)];
    for (const files of leaves) {
      const leaf = await cert(files.certFile);
      t.false(leaf.ca);
      t.true(leaf.checkIssued(ca), `${leaf.subject} issued by the CA`);
      t.true(leaf.verify(ca.publicKey), `${leaf.subject} signed by the CA`);
      // The key file holds the private key of the certificate's public key.
      const pub = createPublicKey(createPrivateKey(await readFile(files.keyFile))).export({ type: 'spki', format: 'der' });
      t.deepEqual(pub, leaf.publicKey.export({ type: 'spki', format: 'der' }));
    }
  });
});

test('apiserver serving certificate carries every SAN', async (t) => {
  await withPKI(async (pki) => {
    const san = (await cert(pki.apiserver.certFile)).subjectAltName ?? '';
    for (const name of APISERVER_SANS) {
      t.true(san.includes(/^\d/.test(name) ? `IP Address:${name}` : `DNS:${name}`), `SAN ${name} in ${san}`);
    }
    const x = await cert(pki.apiserver.certFile);
    t.true(x.checkHost('kubernetes.default.svc.cluster.local') !== undefined);
    t.is(x.checkIP('10.96.0.1'), '10.96.0.1');
    t.is(x.checkIP('127.0.0.1'), '127.0.0.1');
  });
});

test('client certificates name the admin and the kubelet client in system:masters', async (t) => {
  await withPKI(async (pki) => {
    const admin = await cert(pki.admin.certFile);
    t.regex(admin.subject, /CN=kubernetes-admin/);
    t.regex(admin.subject, /O=system:masters/);
    const kc = await cert(pki.kubeletClient.certFile);
    t.regex(kc.subject, /CN=kube-apiserver-kubelet-client/);
    t.regex(kc.subject, /O=system:masters/);
    t.is(admin.keyUsage?.includes('1.3.6.1.5.5.7.3.2'), true, 'clientAuth');
  });
});

test('each kubelet serving certificate has its node address as IP SAN', async (t) => {
  await withPKI(async (pki) => {
    for (const n of nodes) {
      const x = await cert(pki.kubelets[n.name]!.certFile);
      t.is(x.checkIP(n.address), n.address);
      t.is(x.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), true, 'serverAuth');
    }
  });
});

test('private keys are 0600, the PKI dir 0700, the service-account key pair matches', async (t) => {
  await withPKI(async (pki) => {
    t.is((await stat(pki.dir)).mode & 0o777, 0o700);
    const keys = [pki.ca, pki.apiserver, pki.admin, pki.kubeletClient, pki.serviceAccount, ...Object.values(pki.kubelets)];
    for (const k of keys) t.is((await stat(k.keyFile)).mode & 0o777, 0o600, k.keyFile);
    const sa = createPublicKey(createPrivateKey(await readFile(pki.serviceAccount.keyFile)));
    t.deepEqual(
      sa.export({ type: 'spki', format: 'der' }),
      createPublicKey(await readFile(pki.serviceAccount.certFile)).export({ type: 'spki', format: 'der' }),
    );
  });
});
