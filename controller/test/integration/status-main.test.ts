// The status writer as main.ts runs it (discovered components, leader election on a real Lease), against a
// private kube-apiserver: the elected replica writes ZtunnelAccepted on an L4 policy. Private control plane only
// (the controller's CA would otherwise touch the shared cluster's istio-system).

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { nullLogger } from '../../src/kube/log.js';
import { Registry } from '../../src/kube/metrics.js';
import { R, type Condition, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { runController, type RunningController } from '../../src/main.js';
import { eventually, kubectl, startPrivateControlPlane, type TestCluster } from './env.js';

const NS = 'status-main-it';
const AP: ResourceType = { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy', namespaced: true };
let cluster: TestCluster | undefined;
let ctl: RunningController | undefined;

test.before(async () => {
  if (process.env.AMBIT_KUBECONFIG) return;
  cluster = await startPrivateControlPlane();
  const root = join(process.env.GOMODCACHE ?? '/var/cache/ambit/go/mod', 'istio.io');
  const v = existsSync(root) ? readdirSync(root).filter((d) => d.startsWith('api@')).sort().at(-1) : undefined;
  if (!v) throw new Error('istio.io/api not found in the Go module cache');
  const r = kubectl(cluster.kubeconfig, ['apply', '--server-side', '-f', join(root, v, 'kubernetes', 'customresourcedefinitions.gen.yaml')]);
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
  if (!cluster) return t.pass('private control plane only');
  t.true(ctl!.components.some((c) => c.name === 'status-writer' && c.leaderOnly));
  const cond = await eventually(async () => {
    const ap = await cluster!.client.get<KubeObject & { status?: { conditions?: Condition[] } }>(AP, NS, 'from-ns');
    return ap.status?.conditions?.find((c) => c.type === 'ZtunnelAccepted');
  }, 60_000, 'ZtunnelAccepted');
  t.like(cond, { status: 'True', reason: 'Accepted', message: 'attached to ztunnel', observedGeneration: 1 });
  t.true(ctl!.isLeader());
});
