// The control plane's serving side wired as main.ts does (createControlPlane), against a real kube-apiserver:
// a ztunnel with a pod-bound token streams the model, sees a waypoint binding arrive as a delta, and a removal.

import test from 'ava';
import { ConfigClient, type MeshConfig, type WaypointConfig } from '@ambit/mesh-api';
import { parseControllerConfig } from '../../src/config.js';
import { createControlPlane, type ControlPlane } from '../../src/control-plane.js';
import { logger, nullLogger } from '@ambit/mesh-api';
import { Registry } from '../../src/kube/metrics.js';
import { R, type KubeObject } from '../../src/kube/resources.js';
import { eventually, getTestCluster, type TestCluster } from './env.js';

const NS = 'push-it';
const SYS = 'istio-system';
let cluster: TestCluster;
let cp: ControlPlane;

async function create(rt: typeof R.pod, obj: KubeObject): Promise<KubeObject> {
  try {
    return await cluster.client.create(rt, obj);
  } catch {
    return cluster.client.get(rt, obj.metadata.namespace, obj.metadata.name!);
  }
}

test.before(async () => {
  cluster = await getTestCluster();
  for (const ns of [SYS, NS]) await create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const [ns, sa] of [[SYS, 'ztunnel'], [NS, 'web']]) await create(R.serviceAccount, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } });
  await create(R.pod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ztunnel-x', namespace: SYS }, spec: { serviceAccountName: 'ztunnel', nodeName: 'node-a', containers: [{ name: 'c', image: 'ztunnel' }] } });
  await create(R.pod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: NS, labels: { app: 'web', version: 'v1' }, annotations: { 'ambient.istio.io/redirection': 'enabled' } }, spec: { serviceAccountName: 'web', nodeName: 'node-a', containers: [{ name: 'c', image: 'web', ports: [{ name: 'http', containerPort: 8080 }] }] } });
  // What the kubelet would report.
  await cluster.client.mergePatch(R.pod, NS, 'web-1', { status: { phase: 'Running', podIP: '10.244.1.77', podIPs: [{ ip: '10.244.1.77' }], conditions: [{ type: 'Ready', status: 'True' }] } }, 'status');
  await create(R.service, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
  cp = createControlPlane({
    client: cluster.client,
    log: process.env.AMBIT_TEST_LOG ? logger('it') : nullLogger,
    registry: new Registry(),
    config: parseControllerConfig({ POD_NAMESPACE: SYS, AMBIT_CA_PORT: '0' }),
  });
  // The serving side only (every replica): the CA, the config push, the mesh model.
  for (const c of cp.components.filter((c) => !c.leaderOnly)) await c.start(new AbortController().signal);
});

test.after.always(async () => {
  for (const c of [...(cp?.components ?? [])].reverse()) await c.stop();
  await cp?.informers.stop();
  if (cluster) {
    await cluster.client.delete(R.namespace, undefined, NS).catch(() => {});
    await cluster.stop();
  }
});

test('a ztunnel streams the model from the API server; changes arrive as deltas', async (t) => {
  const pod = await cluster.client.get(R.pod, SYS, 'ztunnel-x');
  const tok = await cluster.client.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${SYS}/serviceaccounts/ztunnel/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['istio-ca'], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'ztunnel-x', uid: pod.metadata.uid } } },
  });
  const updates: { full: boolean; cfg: MeshConfig }[] = [];
  const c = new ConfigClient<MeshConfig>({
    address: `https://localhost:${cp.ca.server.port}`,
    servername: 'istiod.istio-system.svc',
    rootCert: cp.ca.rootPem,
    token: tok.status.token,
    kind: 'ztunnel',
    node: 'node-a',
  });
  c.onUpdate((cfg, u) => void updates.push({ full: u.full, cfg }));
  t.teardown(() => c.stop());
  await c.start();
  const host = `${NS}/web.${NS}.svc.cluster.local`;
  const first = await eventually(() => c.config?.services?.find((s) => `${s.namespace}/${s.hostname}` === host), 30_000, 'service in the model');
  t.true(updates[0]!.full);
  // The VIP is the Service's ClusterIP, in the default network (whichever cluster runs the test).
  const svc = await cluster.client.get<KubeObject & { spec: { clusterIP: string } }>(R.service, NS, 'web');
  t.deepEqual(first.vips, [`/${svc.spec.clusterIP}`]);
  t.deepEqual(first.ports, { 80: 0 });
  t.deepEqual(first.endpoints, { [`Kubernetes//Pod/${NS}/web-1`]: { workloadUid: `Kubernetes//Pod/${NS}/web-1`, port: { 80: 8080 }, status: 'Healthy' } });
  const w = c.config!.workloads!.find((x) => x.uid === `Kubernetes//Pod/${NS}/web-1`)!;
  t.like(w, { protocol: 'HBONE', serviceAccount: 'web', workloadIps: ['10.244.1.77'], node: 'node-a', canonicalName: 'web', canonicalRevision: 'v1' });

  // A waypoint, programmed (status.addresses), and the namespace enrolled: the Service is bound by a delta.
  await create(R.gateway, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: NS }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } });
  await cluster.client.mergePatch(R.gateway, NS, 'waypoint', { status: { addresses: [{ type: 'IPAddress', value: '10.97.9.9' }, { type: 'Hostname', value: `waypoint.${NS}.svc.cluster.local` }] } }, 'status');
  await cluster.client.mergePatch(R.namespace, undefined, NS, { metadata: { labels: { 'istio.io/use-waypoint': 'waypoint' } } });
  const bound = await eventually(() => c.config?.services?.find((s) => `${s.namespace}/${s.hostname}` === host && s.waypoint), 30_000, 'waypoint binding');
  t.deepEqual(bound.waypoint, { destination: `${NS}/waypoint.${NS}.svc.cluster.local`, hboneMtlsPort: 15008 });
  t.false(updates.at(-1)!.full);

  // Deleting the Service removes it.
  await cluster.client.delete(R.service, NS, 'web');
  await eventually(() => !c.config?.services?.some((s) => `${s.namespace}/${s.hostname}` === host), 30_000, 'service removed');
  t.false(updates.at(-1)!.full);
  t.is(c.stats.nacks, 0);
  t.true(cp.push.push.clients().some((x) => x.client === 'ztunnel/node-a' && x.ackedVersion === c.version));
});

async function podToken(ns: string, sa: string, podName: string): Promise<string> {
  const pod = await cluster.client.get(R.pod, ns, podName);
  const tok = await cluster.client.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['istio-ca'], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata.uid } } },
  });
  return tok.status.token;
}

test("a waypoint's pod gets its config; an application pod whose account has a Gateway's name does not", async (t) => {
  // wp2: the account the deployment controller renders (owned by the Gateway), and a pod running as it.
  const wp2 = await create(R.gateway, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'wp2', namespace: NS }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } });
  const owner = (gw: KubeObject) => [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: gw.metadata.name!, uid: gw.metadata.uid! }];
  await create(R.serviceAccount, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'wp2', namespace: NS, ownerReferences: owner(wp2) } });
  await create(R.pod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'wp2-1', namespace: NS }, spec: { serviceAccountName: 'wp2', nodeName: 'node-a', containers: [{ name: 'c', image: 'waypoint' }] } });
  // reviews: a Gateway named like the application's existing account.
  await create(R.serviceAccount, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reviews', namespace: NS } });
  await create(R.pod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews-1', namespace: NS }, spec: { serviceAccountName: 'reviews', nodeName: 'node-a', containers: [{ name: 'c', image: 'reviews' }] } });
  await create(R.gateway, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'reviews', namespace: NS }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } });

  const client = (waypoint: string, token: string, refusals: string[]) =>
    new ConfigClient<WaypointConfig>({
      address: `https://localhost:${cp.ca.server.port}`,
      servername: 'istiod.istio-system.svc',
      rootCert: cp.ca.rootPem,
      token,
      kind: 'waypoint',
      waypoint: `${NS}/${waypoint}`,
      backoffInitialMs: 200,
      backoffMaxMs: 1000,
      log: { info() {}, warn: (_m: string, f: Record<string, unknown>) => void refusals.push(String(f.reason)) },
    } as never);
  const ok = client('wp2', await podToken(NS, 'wp2', 'wp2-1'), []);
  t.teardown(() => ok.stop());
  await ok.start();
  await eventually(() => ok.config?.waypoint.name === 'wp2', 30_000, 'waypoint config');

  const refusals: string[] = [];
  const app = client('reviews', await podToken(NS, 'reviews', 'reviews-1'), refusals);
  t.teardown(() => app.stop());
  await app.start();
  await eventually(() => refusals.some((r) => /HTTP 403/.test(r)), 30_000, 'refusal');
  t.regex(refusals.find((r) => /HTTP 403/.test(r))!, new RegExp(`ServiceAccount ${NS}/reviews is not owned by Gateway ${NS}/reviews`));
  t.is(app.config, undefined);
});
