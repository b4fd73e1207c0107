import test from 'ava';
import * as crypto from 'node:crypto';
import http2 from 'node:http2';
import tls from 'node:tls';
import { CaClient, CaRequestError, createCsr, createIntermediateCA, createRootCA, certificateUris } from '@ambit/mesh-api';
import { authorizeIdentity, AuthError, authorityFromPem, IMPERSONATION_FAILURE, staticPodLookup } from '../src/ca/index.js';
import { memorySecrets, pod, startTestCa, token } from './ca-fixtures.js';

const ID = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

const nodePods = [
  pod('istio-system', 'ztunnel-a', 'ztunnel', 'node-a'),
  pod('istio-system', 'ztunnel-b', 'ztunnel', 'node-b'),
  pod('default', 'sleep-1', 'sleep', 'node-a'),
  pod('default', 'productpage-1', 'bookinfo-productpage', 'node-b'),
];

function caClient(env: { address: string; ca: { rootPem: string } }, tok: string, mode: 'self' | 'impersonate' = 'impersonate', validitySeconds?: number) {
  const c = new CaClient({ address: env.address, rootCert: env.ca.rootPem, token: tok, mode, ...(validitySeconds ? { validitySeconds } : {}) });
  return c;
}

test('a workload gets its own SPIFFE certificate: [leaf, root], 24h, ECDSA P-256, chaining to the published root', async (t) => {
  const env = await startTestCa(nodePods);
  t.teardown(() => env.ca.stop());
  const c = caClient(env, token('default', 'sleep'), 'self');
  t.teardown(() => c.close());
  const { csrPem } = createCsr(ID('default', 'sleep'));
  const res = await c.fetch(ID('default', 'sleep'), csrPem);
  t.is(res.certChainPem.length, 2);
  t.deepEqual(res.rootsPem, [env.ca.rootPem]);
  t.is(res.certChainPem[1], env.ca.rootPem);
  const leaf = new crypto.X509Certificate(res.certChainPem[0]!);
  t.deepEqual(certificateUris(res.certChainPem[0]!), [ID('default', 'sleep')]);
  t.true(leaf.verify(new crypto.X509Certificate(env.ca.rootPem).publicKey));
  t.is(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const hours = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 3_600_000;
  t.true(hours > 24 && hours <= 24.02, `validity ${hours}h`);
});

test('validity: requested TTLs are honoured up to 90 days; beyond is refused', async (t) => {
  const env = await startTestCa(nodePods);
  t.teardown(() => env.ca.stop());
  const ok = caClient(env, token('default', 'sleep'), 'self', 3600);
  const res = await ok.fetch(ID('default', 'sleep'), createCsr(ID('default', 'sleep')).csrPem);
  const leaf = new crypto.X509Certificate(res.certChainPem[0]!);
  t.true(Date.parse(leaf.validTo) - Date.now() <= 3600_000);
  const tooLong = caClient(env, token('default', 'sleep'), 'self', 91 * 86400);
  const err = await t.throwsAsync(tooLong.fetch(ID('default', 'sleep'), createCsr(ID('default', 'sleep')).csrPem), { instanceOf: CaRequestError });
  t.is(err!.status, 400);
  t.regex(err!.message, /requested TTL 7862400s is greater than the max allowed TTL 7776000s/);
  ok.close();
  tooLong.close();
});

test('ztunnel may impersonate a workload that runs on its node, and only that', async (t) => {
  const env = await startTestCa(nodePods);
  t.teardown(() => env.ca.stop());
  const za = caClient(env, token('istio-system', 'ztunnel', 'ztunnel-a', 'uid-ztunnel-a'));
  t.teardown(() => za.close());
  // sleep runs on node-a: allowed.
  const res = await za.fetch(ID('default', 'sleep'), createCsr(ID('default', 'sleep')).csrPem);
  t.deepEqual(certificateUris(res.certChainPem[0]!), [ID('default', 'sleep')]);
  // productpage runs on node-b: refused with Istio's message.
  const err = await t.throwsAsync(za.fetch(ID('default', 'bookinfo-productpage'), createCsr(ID('default', 'bookinfo-productpage')).csrPem), {
    instanceOf: CaRequestError,
  });
  t.is(err!.status, 403);
  t.is(err!.message, `CA refused the request (HTTP 403): ${IMPERSONATION_FAILURE}`);
  // ztunnel on node-b may have it.
  const zb = caClient(env, token('istio-system', 'ztunnel', 'ztunnel-b'));
  t.teardown(() => zb.close());
  await t.notThrowsAsync(zb.fetch(ID('default', 'bookinfo-productpage'), createCsr(ID('default', 'bookinfo-productpage')).csrPem));
});

test('impersonation is refused to non-node accounts, to tokens not bound to a pod, and across trust domains', async (t) => {
  const env = await startTestCa(nodePods);
  t.teardown(() => env.ca.stop());
  const cases: [string, string][] = [
    [token('default', 'sleep', 'sleep-1'), ID('default', 'bookinfo-productpage')], // not a trusted node account
    [token('istio-system', 'ztunnel'), ID('default', 'sleep')], // token not bound to a pod
    [token('istio-system', 'ztunnel', 'ztunnel-a', 'wrong-uid'), ID('default', 'sleep')], // pod uid mismatch
    [token('istio-system', 'ztunnel', 'ztunnel-gone'), ID('default', 'sleep')], // caller pod not found
    [token('istio-system', 'ztunnel', 'ztunnel-a'), 'spiffe://other.domain/ns/default/sa/sleep'],
    [token('istio-system', 'ztunnel', 'ztunnel-a'), 'not-a-spiffe-id'],
  ];
  for (const [tok, id] of cases) {
    const c = caClient(env, tok);
    const err = await t.throwsAsync(c.fetch(id, createCsr(id).csrPem), { instanceOf: CaRequestError });
    t.is(err!.status, 403, `${tok} -> ${id}`);
    t.regex(err!.message, /request impersonation authentication failure/);
    c.close();
  }
});

test('requests without a valid token are 401; a CSR for another identity is 400', async (t) => {
  const env = await startTestCa(nodePods);
  t.teardown(() => env.ca.stop());
  const bad = caClient(env, 'not-a-token', 'self');
  const e1 = await t.throwsAsync(bad.fetch(ID('default', 'sleep'), createCsr(ID('default', 'sleep')).csrPem), { instanceOf: CaRequestError });
  t.is(e1!.status, 401);
  t.regex(e1!.message, /authentication failure: invalid bearer token/);
  const sleep = caClient(env, token('default', 'sleep'), 'self');
  // The CSR names another identity than the caller's own.
  const e2 = await t.throwsAsync(sleep.fetch(ID('default', 'sleep'), createCsr(ID('default', 'admin')).csrPem), { instanceOf: CaRequestError });
  t.is(e2!.status, 400);
  t.regex(e2!.message, /CSR identity mismatch/);
  bad.close();
  sleep.close();
});

test('the raw API: JSON in, JSON out, over HTTP/2 and HTTP/1.1', async (t) => {
  const env = await startTestCa(nodePods);
  t.teardown(() => env.ca.stop());
  const body = JSON.stringify({ csr: createCsr(ID('default', 'sleep')).csrPem, validitySeconds: 600 });
  // HTTP/1.1 (as curl or fetch would).
  const res1 = await new Promise<{ status: number; json: { certChain: string[]; roots: string[] } }>((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: env.ca.server.port!, servername: 'istiod.istio-system.svc', ca: env.ca.rootPem, ALPNProtocols: ['http/1.1'] }, () => {
      sock.write(`POST /v1/certificates HTTP/1.1\r\nHost: istiod\r\nAuthorization: Bearer ${token('default', 'sleep')}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
    let raw = '';
    sock.on('data', (d) => (raw += d));
    sock.on('end', () => {
      const status = Number(raw.split(' ')[1]);
      resolve({ status, json: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) });
    });
    sock.on('error', reject);
  });
  t.is(res1.status, 200);
  t.is(res1.json.certChain.length, 2);
  // Wrong method and path.
  const s = http2.connect(env.address, { ca: env.ca.rootPem });
  t.teardown(() => s.close());
  const status = await new Promise<number>((resolve) => {
    const r = s.request({ ':method': 'GET', ':path': '/v1/certificates' });
    r.on('response', (h) => resolve(Number(h[':status'])));
    r.end();
  });
  t.is(status, 405);
});

test('the serving certificate is valid for istiod.istio-system.svc and signed by the mesh root', async (t) => {
  const env = await startTestCa();
  t.teardown(() => env.ca.stop());
  for (const servername of ['istiod.istio-system.svc', 'istiod.istio-system.svc.cluster.local', 'localhost']) {
    const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: env.ca.server.port!, servername, ca: env.ca.rootPem, ALPNProtocols: ['h2'] }, () => {
        resolve(s.getPeerCertificate());
        s.end();
      });
      s.on('error', reject);
    });
    t.regex(peer.subjectaltname ?? '', /DNS:istiod\.istio-system\.svc/);
  }
  // Anything else fails verification.
  await t.throwsAsync(
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: env.ca.server.port!, servername: 'evil.example', ca: env.ca.rootPem }, () => resolve(s));
      s.on('error', reject);
    }),
    { message: /does not match certificate's altnames|Hostname\/IP does not match/ },
  );
});

test('the self-signed root is created once and reused from istio-ca-secret', async (t) => {
  const secrets = memorySecrets();
  const a = await startTestCa([], { secrets });
  const rootA = a.ca.rootPem;
  t.is(a.ca.authority.source, 'self-signed');
  await a.ca.stop();
  t.truthy(secrets.data['istio-system/istio-ca-secret']?.['ca-cert.pem']);
  t.truthy(secrets.data['istio-system/istio-ca-secret']?.['ca-key.pem']);
  const b = await startTestCa([], { secrets });
  t.teardown(() => b.ca.stop());
  t.is(b.ca.rootPem, rootA);
});

test('a plugged-in CA (Secret cacerts with an intermediate) signs, and the chain ends at its root', async (t) => {
  const root = createRootCA({ commonName: 'Corp Root' });
  const inter = createIntermediateCA(root, { commonName: 'Corp Mesh Intermediate' });
  const secrets = memorySecrets({
    'istio-system/cacerts': {
      'ca-cert.pem': inter.certPem,
      'ca-key.pem': inter.keyPem,
      'root-cert.pem': root.certPem,
      'cert-chain.pem': inter.certPem + root.certPem,
    },
  });
  const env = await startTestCa(nodePods, { secrets });
  t.teardown(() => env.ca.stop());
  t.is(env.ca.authority.source, 'plugged');
  t.is(env.ca.rootPem, root.certPem);
  t.false('istio-system/istio-ca-secret' in secrets.data);
  const c = caClient(env, token('default', 'sleep'), 'self');
  t.teardown(() => c.close());
  const res = await c.fetch(ID('default', 'sleep'), createCsr(ID('default', 'sleep')).csrPem);
  t.deepEqual(res.certChainPem.slice(1), [inter.certPem, root.certPem]);
  t.deepEqual(res.rootsPem, [root.certPem]);
  // A TLS client trusting only the corporate root accepts the leaf through the chain.
  const leaf = new crypto.X509Certificate(res.certChainPem[0]!);
  t.true(leaf.checkIssued(new crypto.X509Certificate(inter.certPem)));
});

test('a plugged-in CA whose key does not fit, or is a short RSA key, is refused with a clear error', (t) => {
  const a = createRootCA();
  const b = createRootCA();
  t.throws(() => authorityFromPem({ caCert: a.certPem, caKey: b.keyPem }, 'plugged'), { message: 'ca-key.pem does not belong to ca-cert.pem' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  t.throws(() => authorityFromPem({ caCert: a.certPem, caKey: rsa }, 'plugged'), { message: /^ca-key.pem refused: RSA key of 1024 bits is too short/ });
});

test('authorizeIdentity: own identity without lookups; node rule with a fake pod lookup', async (t) => {
  let lookups = 0;
  const pods = staticPodLookup(() => {
    lookups++;
    return nodePods;
  });
  t.is(await authorizeIdentity({ namespace: 'default', serviceAccount: 'sleep' }, undefined, { pods }), ID('default', 'sleep'));
  t.is(await authorizeIdentity({ namespace: 'default', serviceAccount: 'sleep' }, ID('default', 'sleep'), { pods }), ID('default', 'sleep'));
  t.is(lookups, 0);
  const ztA = { namespace: 'istio-system', serviceAccount: 'ztunnel', podName: 'ztunnel-a' };
  t.is(await authorizeIdentity(ztA, ID('default', 'sleep'), { pods }), ID('default', 'sleep'));
  const err = await t.throwsAsync(authorizeIdentity(ztA, ID('default', 'bookinfo-productpage'), { pods }), { instanceOf: AuthError });
  t.is(err!.status, 403);
  t.is((err as AuthError & { reason: string }).reason, 'no pod of default/bookinfo-productpage on node node-a');
  // A custom trusted account list.
  const custom = { namespace: 'kube-system', serviceAccount: 'node-proxy', podName: 'np' };
  const pods2 = staticPodLookup(() => [...nodePods, pod('kube-system', 'np', 'node-proxy', 'node-a')]);
  t.is(await authorizeIdentity(custom, ID('default', 'sleep'), { pods: pods2, trustedNodeAccounts: ['kube-system/node-proxy'] }), ID('default', 'sleep'));
});
