// `ambit install` / `ambit uninstall` and the manifests, on a private control plane (it starts without the Gateway
// API CRDs, so the missing-CRD errors can be seen), also when AMBIT_KUBECONFIG names the shared cluster.
import test from 'ava';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { R, type KubeObject } from '../../src/index.js';
import { eventually, installGatewayCRDs, kubectl, startPrivateControlPlane, type TestCluster } from './env.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'src', 'cli', 'main.js');
const MANIFESTS = join(root, '..', 'manifests');
let cluster: TestCluster;

function cli(args: string[], kubeconfig = cluster.kubeconfig): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, '--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

// Without the cached Kubernetes binaries (under AMBIT_CACHE) this hook fails with one line saying so, and with it
// every test below: never a pass.
test.before(async () => {
  cluster = await startPrivateControlPlane({ gatewayCRDs: false });
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('without the Gateway API CRDs: install and waypoint apply fail with one clear line, nothing applied', async (t) => {
  const i = await cli(['install', '--no-wait']);
  t.is(i.code, 1);
  t.regex(i.stderr, /^Error: missing Kubernetes Gateway API CRDs \(gateways\.gateway\.networking\.k8s\.io, gatewayclasses\.gateway\.networking\.k8s\.io\): install them first/);
  t.is(i.stderr.trim().split('\n').length, 1);
  t.is(await cluster.client.getOrUndefined(R.namespace, undefined, 'istio-system'), undefined);
  const a = await cli(['waypoint', 'apply', '-n', 'default']);
  t.is(a.code, 1);
  t.regex(a.stderr, /^Error: missing Kubernetes Gateway CRDs need to be installed before applying a waypoint: /);
  const l = await cli(['waypoint', 'list']);
  t.is(l.code, 1);
  t.regex(l.stderr, /^Error: missing Kubernetes Gateway CRDs need to be installed before using waypoints: /);
});

test.serial('without rights: install refuses before changing anything', async (t) => {
  installGatewayCRDs(cluster.kubeconfig);
  // The limited user may read CRDs (so the CRD check passes) but nothing else.
  kubectl(cluster.kubeconfig, ['create', 'clusterrole', 'crd-reader', '--verb=get', '--resource=customresourcedefinitions']);
  kubectl(cluster.kubeconfig, ['create', 'clusterrolebinding', 'crd-reader', '--clusterrole=crd-reader', '--user=limited']);
  const r = await cli(['install', '--no-wait'], cluster.limitedKubeconfig);
  t.is(r.code, 1);
  t.regex(r.stderr, /^Error: insufficient rights to install \(nothing was changed\): cannot .*create namespaces, patch namespaces, create serviceaccounts in istio-system, /);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.is(await cluster.client.getOrUndefined(R.namespace, undefined, 'istio-system'), undefined);
});

test.serial('install applies the manifests idempotently; uninstall --purge removes them', async (t) => {
  const first = await cli(['install', '--no-wait']);
  t.is(first.code, 0, first.stderr);
  t.true(first.stdout.includes('namespace/istio-system applied\n'));
  t.true(first.stdout.includes('deployment/istiod -n istio-system applied\n'));
  t.true(first.stdout.includes('clusterrole/istiod-istio-system applied\n'));
  t.true(first.stdout.endsWith('Ambit 0.1.0 installed\n'));
  const dep = await cluster.client.get<KubeObject & { spec: { template: { spec: { containers: Array<{ image: string }> } } } }>(R.deployment, 'istio-system', 'istiod');
  t.is(dep.spec.template.spec.containers[0].image, 'ambit/controller:0.1.0');
  const svc = await cluster.client.get<KubeObject & { spec: { ports: Array<{ port: number }> } }>(R.service, 'istio-system', 'istiod');
  t.deepEqual(svc.spec.ports.map((p) => p.port), [15012, 15014]);
  const legacyLine = 'customresourcedefinition/gateways.gateway.networking.k8s.io now also serves v1alpha2 (the 2022 waypoint dialect)\n';
  t.true(first.stdout.includes(legacyLine));
  const again = await cli(['install', '--no-wait']);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, first.stdout.replace(legacyLine, ''));
  // The 2022 dialect's waypoint YAML (v1alpha2, no listeners) now applies unchanged and reads back as v1.
  const legacy = kubectl(cluster.kubeconfig, ['apply', '-n', 'default', '-f', join(root, '..', '..', 'samples', 'manifests', 'dialect-2022', 'waypoint-productpage.yaml')]);
  t.is(legacy.status, 0, legacy.stderr);
  t.regex(legacy.stdout, /gateway\.gateway\.networking\.k8s\.io\/productpage created/);
  const gw = await cluster.client.get<KubeObject & { spec: { gatewayClassName: string } }>(R.gateway, 'default', 'productpage');
  t.is(gw.spec.gatewayClassName, 'istio-mesh');
  t.is(kubectl(cluster.kubeconfig, ['delete', 'gateway', '-n', 'default', 'productpage']).status, 0);
  // The same manifests work with kubectl.
  const k = kubectl(cluster.kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', MANIFESTS]);
  t.is(k.status, 0, k.stderr);
  // A GatewayClass the controller would have created goes with uninstall; one of another controller stays.
  await cluster.client.create(R.gatewayClass, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'istio-waypoint' }, spec: { controllerName: 'istio.io/mesh-controller' } });
  await cluster.client.create(R.gatewayClass, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'nginx' }, spec: { controllerName: 'nginx.org/gateway-controller' } });
  const u = await cli(['uninstall', '--purge']);
  t.is(u.code, 0, u.stderr);
  t.true(u.stdout.includes('gatewayclass/istio-waypoint deleted\n'));
  t.true(u.stdout.includes('deployment/istiod -n istio-system deleted\n'));
  t.true(u.stdout.endsWith('Ambit 0.1.0 uninstalled (CRDs purged)\n'));
  t.true(u.stdout.includes('customresourcedefinition/gateways.gateway.networking.k8s.io no longer serves v1alpha2\n'));
  const refused = kubectl(cluster.kubeconfig, ['apply', '-n', 'default', '-f', join(root, '..', '..', 'samples', 'manifests', 'dialect-2022', 'waypoint-productpage.yaml')]);
  t.not(refused.status, 0);
  t.truthy(await cluster.client.getOrUndefined(R.gatewayClass, undefined, 'nginx'));
  t.is(await cluster.client.getOrUndefined(R.clusterRole, undefined, 'istiod-istio-system'), undefined);
  await eventually(async () => !(await cluster.client.getOrUndefined(R.namespace, undefined, 'istio-system')), 60_000, 'istio-system deleted');
  // Uninstalling again is harmless.
  const u2 = await cli(['uninstall']);
  t.is(u2.code, 0, u2.stderr);
});

test.serial('install right after an uninstall waits for the terminating system namespace instead of failing half-way', async (t) => {
  t.is((await cli(['install', '--no-wait'])).code, 0);
  // A finalizer keeps istio-system terminating, as a slow namespace deletion right after `ambit uninstall` does.
  await cluster.client.create(R.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hold', namespace: 'istio-system', finalizers: ['ambit.dev/test-hold'] } });
  t.is(kubectl(cluster.kubeconfig, ['delete', 'namespace', 'istio-system', '--wait=false']).status, 0);
  const p = spawn(process.execPath, [CLI, '--kubeconfig', cluster.kubeconfig, 'install', '--no-wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (c) => (stdout += c));
  p.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<number>((resolve) => p.on('close', (code) => resolve(code ?? 1)));
  await eventually(async () => stdout.includes('namespace/istio-system is still being deleted (an earlier uninstall); waiting for it to go\n'), 30_000, 'install says it waits');
  t.false(stdout.includes('applied'), 'nothing applied while the namespace terminates');
  kubectl(cluster.kubeconfig, ['patch', 'configmap', 'hold', '-n', 'istio-system', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  t.is(await done, 0, stderr);
  t.true(stdout.includes('namespace/istio-system applied\n'));
  t.true(stdout.endsWith('Ambit 0.1.0 installed\n'));
  t.is((await cli(['uninstall', '--purge'])).code, 0);
});
