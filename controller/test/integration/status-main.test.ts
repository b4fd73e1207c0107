// The status writer as main.ts runs it (discovered components, leader election on a real Lease), against a
// private kube-apiserver: the elected replica writes ZtunnelAccepted on an L4 policy. Always on a private control
// plane, also when AMBIT_KUBECONFIG names the shared cluster (the controller's CA would otherwise touch the shared
// cluster's istio-system), so it really runs in `npm test`'s integration phase; without the cached Kubernetes
// binaries or the Istio CRDs its before hook fails with one line saying which is missing.

import test from 'ava';
import { nullLogger } from '@ambit/mesh-api';
import { Registry } from '../../src/kube/metrics.js';
import { R, type Condition, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { runController, type RunningController } from '../../src/main.js';
import { eventually, istioCrdFile, kubectl, startPrivateControlPlane, type TestCluster } from './env.js';

const NS = 'status-main-it';
const AP: ResourceType = { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy', namespaced: true };
let cluster: TestCluster | undefined;
let ctl: RunningController | undefined;

test.before(async () => {
  const crds = istioCrdFile();
  cluster = await startPrivateControlPlane();
  const r = kubectl(cluster.kubeconfig, ['apply', '--server-side', '-f', crds]);
  if (r.status !== 0) throw new Error(`istio CRDs: ${r.stderr}`);
  const w = kubectl(cluster.kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/authorizationpolicies.security.istio.io']);
  if (w.status !== 0) throw new Error(`istio CRDs: ${w.stderr}`);
  for (const ns of ['istio-system', NS]) await cluster.client.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await cluster.client.create(AP, {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'from-ns', namespace: NS },
    spec: { rules: [{ from: [{ source: { namespaces: [NS] } }] }] },
  });
  ctl = await runController({
    kubeconfig: cluster.kubeconfig,
    monitoringPort: -1,
    identity: 'status-main-a',
    leaseName: 'status-main-it',
    leaseDurationSeconds: 5,
    log: nullLogger,
    registry: new Registry(),
    env: { AMBIT_CA_PORT: '0' },
  });
});

test.after.always(async () => {
  await ctl?.stop();
  await cluster?.stop();
});

test('the elected controller writes ZtunnelAccepted on an L4 AuthorizationPolicy', async (t) => {
  t.true(ctl!.components.some((c) => c.name === 'status-writer' && c.leaderOnly));
  const cond = await eventually(async () => {
    const ap = await cluster!.client.get<KubeObject & { status?: { conditions?: Condition[] } }>(AP, NS, 'from-ns');
    return ap.status?.conditions?.find((c) => c.type === 'ZtunnelAccepted');
  }, 60_000, 'ZtunnelAccepted');
  t.like(cond, { status: 'True', reason: 'Accepted', message: 'attached to ztunnel', observedGeneration: 1 });
  t.true(ctl!.isLeader());
});
