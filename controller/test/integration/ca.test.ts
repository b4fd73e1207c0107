// The CA against a real kube-apiserver: real projected tokens (TokenRequest bound to pods, and `kubectl create
// token`), real TokenReviews, pods placed on nodes by spec.nodeName, the root kept in a Secret and published to
// every namespace.

import test from 'ava';
import { CaClient, CaRequestError, createCsr, certificateUris } from '@ambit/mesh-api';
import { logger } from '@ambit/mesh-api';
import { CaComponent } from '../../src/ca/index.js';
import { R, type KubeObject } from '../../src/kube/resources.js';
import type { KubeClient } from '../../src/kube/client.js';
import { eventually, getTestCluster, kubectl, type TestCluster } from './env.js';

const ID = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
let cluster: TestCluster;
let ca: CaComponent;
const uids = new Map<string, string>();
const SYS = 'istio-system';
const APP = 'ca-it';

async function ensure(client: KubeClient, rt: typeof R.namespace, obj: KubeObject): Promise<KubeObject> {
  try {
    return await client.create(rt, obj);
  } catch {
    return client.get(rt, obj.metadata.namespace, obj.metadata.name!);
  }
}

async function podOn(client: KubeClient, ns: string, name: string, sa: string, node: string): Promise<void> {
  await ensure(client, R.serviceAccount, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } });
  const p = await ensure(client, R.pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: sa } },
    spec: { serviceAccountName: sa, nodeName: node, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'ambit/test-tools:0.1.0' }] },
  });
  uids.set(`${ns}/${name}`, p.metadata.uid!);
}

/** A projected token as the kubelet mounts it: audience istio-ca, bound to the pod. */
async function podToken(client: KubeClient, ns: string, sa: string, pod: string): Promise<string> {
  const res = await client.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['istio-ca'], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid: uids.get(`${ns}/${pod}`) } },
    },
  });
  return res.status.token;
}

test.before(async () => {
  cluster = await getTestCluster();
  for (const ns of [SYS, APP]) await ensure(cluster.client, R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await podOn(cluster.client, SYS, 'ztunnel-a', 'ztunnel', 'node-a');
  await podOn(cluster.client, SYS, 'ztunnel-b', 'ztunnel', 'node-b');
  await podOn(cluster.client, APP, 'sleep-1', 'sleep', 'node-a');
  await podOn(cluster.client, APP, 'productpage-1', 'bookinfo-productpage', 'node-b');
  ca = new CaComponent({ client: cluster.client, namespace: SYS, port: 0, host: '127.0.0.1', log: process.env.AMBIT_TEST_LOG ? logger('ca') : { info() {}, warn() {} } });
  await ca.start();
});

test.after.always(async () => {
  await ca?.stop();
  if (cluster) {
    await cluster.client.delete(R.namespace, undefined, APP).catch(() => {});
    await cluster.stop();
  }
});

const client = (token: string, mode: 'self' | 'impersonate') =>
  new CaClient({ address: `https://localhost:${ca.server.port}`, rootCert: ca.rootPem, token, mode, servername: 'istiod.istio-system.svc' });

test('the root is stored in Secret istio-system/istio-ca-secret and published as ConfigMap istio-ca-root-cert in every namespace', async (t) => {
  const secret = await cluster.client.get<KubeObject & { type: string; data: Record<string, string> }>(R.secret, SYS, 'istio-ca-secret');
  t.is(secret.type, 'istio.io/ca-root');
  t.is(Buffer.from(secret.data['ca-cert.pem']!, 'base64').toString(), ca.rootPem);
  for (const ns of [APP, 'default', SYS]) {
    const cm = await eventually(() => cluster.client.getOrUndefined<KubeObject & { data?: Record<string, string> }>(R.configMap, ns, 'istio-ca-root-cert'), 30_000, `root ConfigMap in ${ns}`);
    t.is(cm.data?.['root-cert.pem'], ca.rootPem, ns);
  }
  // Deleted or edited: put back.
  await cluster.client.delete(R.configMap, APP, 'istio-ca-root-cert');
  const back = await eventually(() => cluster.client.getOrUndefined<KubeObject & { data?: Record<string, string> }>(R.configMap, APP, 'istio-ca-root-cert'), 30_000, 'root ConfigMap re-created');
  t.is(back.data?.['root-cert.pem'], ca.rootPem);
  // A new namespace gets it too.
  await ensure(cluster.client, R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${APP}-new` } });
  t.teardown(() => cluster.client.delete(R.namespace, undefined, `${APP}-new`).catch(() => {}));
  await eventually(() => cluster.client.getOrUndefined(R.configMap, `${APP}-new`, 'istio-ca-root-cert'), 30_000, 'root ConfigMap in a new namespace');
  t.pass();
});

test('a token from `kubectl create token --audience istio-ca` gets its own identity; a token for another audience is 401', async (t) => {
  const made = kubectl(cluster.kubeconfig, ['create', 'token', 'sleep', '-n', APP, '--audience', 'istio-ca']);
  t.is(made.status, 0, made.stderr);
  const c = client(made.stdout.trim(), 'self');
  t.teardown(() => c.close());
  const res = await c.fetch(ID(APP, 'sleep'), createCsr(ID(APP, 'sleep')).csrPem);
  t.deepEqual(certificateUris(res.certChainPem[0]!), [ID(APP, 'sleep')]);
  t.deepEqual(res.rootsPem, [ca.rootPem]);

  const other = kubectl(cluster.kubeconfig, ['create', 'token', 'sleep', '-n', APP]);
  const bad = client(other.stdout.trim(), 'self');
  t.teardown(() => bad.close());
  const err = await t.throwsAsync(bad.fetch(ID(APP, 'sleep'), createCsr(ID(APP, 'sleep')).csrPem), { instanceOf: CaRequestError });
  t.is(err!.status, 401);
  t.regex(err!.message, /authentication failure/);
});

test('ztunnel (pod-bound token) may impersonate pods on its own node only', async (t) => {
  const zA = client(await podToken(cluster.client, SYS, 'ztunnel', 'ztunnel-a'), 'impersonate');
  const zB = client(await podToken(cluster.client, SYS, 'ztunnel', 'ztunnel-b'), 'impersonate');
  t.teardown(() => (zA.close(), zB.close()));
  const sleep = await zA.fetch(ID(APP, 'sleep'), createCsr(ID(APP, 'sleep')).csrPem);
  t.deepEqual(certificateUris(sleep.certChainPem[0]!), [ID(APP, 'sleep')]);
  const denied = await t.throwsAsync(zA.fetch(ID(APP, 'bookinfo-productpage'), createCsr(ID(APP, 'bookinfo-productpage')).csrPem), { instanceOf: CaRequestError });
  t.is(denied!.status, 403);
  t.regex(denied!.message, /request impersonation authentication failure/);
  await t.notThrowsAsync(zB.fetch(ID(APP, 'bookinfo-productpage'), createCsr(ID(APP, 'bookinfo-productpage')).csrPem));
  // A workload's own token may not impersonate, even on the same node.
  const s = client(await podToken(cluster.client, APP, 'sleep', 'sleep-1'), 'impersonate');
  t.teardown(() => s.close());
  const e2 = await t.throwsAsync(s.fetch(ID(SYS, 'ztunnel'), createCsr(ID(SYS, 'ztunnel')).csrPem), { instanceOf: CaRequestError });
  t.is(e2!.status, 403);
});
