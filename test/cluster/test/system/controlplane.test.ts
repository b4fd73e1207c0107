// System: the local cluster's control plane, from up to down. The file owns one cluster; tests run in order.
import test from 'ava';
import { join } from 'node:path';
import { buildControlPlane, connectCluster, startCluster, type Cluster } from '../../src/index.js';
import { run } from '../../src/controlplane/exec.js';
import { baseline, leftovers, noLeftovers, podNetnsNames, type Baseline } from './helpers.js';

let cluster: Cluster;
let before: Baseline;

test.before(async (t) => {
  const lines: string[] = [];
  before = await baseline(await buildControlPlane());
  const started = Date.now();
  cluster = await startCluster({ log: (l) => lines.push(l) });
  t.log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)}s (warm cache)`);
  for (const l of lines) t.log(l);
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('the apiserver reports the pinned Kubernetes version', async (t) => {
  const r = await cluster.kubectl(['version', '-o', 'json']);
  t.is(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { serverVersion: { gitVersion: string } };
  t.is(v.serverVersion.gitVersion, 'v1.36.3');
});

test.serial('connectCluster() attaches to the running cluster by its kubeconfig; its stop() leaves it running', async (t) => {
  const attached = await connectCluster(cluster.kubeconfigPath);
  t.deepEqual(attached.nodeNames, cluster.nodeNames);
  t.is(attached.binDir, cluster.binDir);
  const ns = await attached.kubectl(['get', 'namespace', 'kube-system', '-o', 'name']);
  t.is(ns.stdout.trim(), 'namespace/kube-system');
  await attached.stop();
  t.is((await cluster.kubectl(['get', '--raw', '/readyz'])).stdout, 'ok');
});

test.serial('the kubernetes Service has its fixed ClusterIP and the apiserver as endpoint', async (t) => {
  const svc = await cluster.kubectl(['get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}']);
  t.is(svc.stdout, '10.96.0.1');
  const ep = await cluster.kubectl([
    'get', 'endpointslices', '-l', 'kubernetes.io/service-name=kubernetes', '-o', 'jsonpath={.items[0].endpoints[0].addresses[0]}',
  ]);
  t.is(ep.stdout, '10.244.0.1');
});

test.serial('RBAC is enforced: a ServiceAccount without roles cannot list pods', async (t) => {
  t.is((await cluster.kubectl(['create', 'serviceaccount', 'nobody', '-n', 'default'])).code, 0);
  const token = await cluster.kubectl(['create', 'token', 'nobody', '-n', 'default']);
  t.is(token.code, 0, token.stderr);
  // Only the token: a kubeconfig with the admin's client certificate would authenticate as the admin first.
  const r = await cluster.kubectl([
    '--kubeconfig=/dev/null',
    '--server=https://127.0.0.1:6443',
    `--certificate-authority=${join(cluster.stateDir, 'pki', 'ca.crt')}`,
    '--token', token.stdout.trim(),
    'get', 'pods', '-n', 'default',
  ]);
  t.not(r.code, 0);
  t.regex(r.stderr, /Forbidden/);
  t.regex(r.stderr, /system:serviceaccount:default:nobody/);
  // The admin (system:masters) can.
  t.is((await cluster.kubectl(['get', 'pods', '-n', 'default'])).code, 0);
});

test.serial('kube-controller-manager runs: namespaces get a default ServiceAccount and delete completely', async (t) => {
  t.is((await cluster.kubectl(['create', 'namespace', 'sys-ns'])).code, 0);
  const sa = await cluster.kubectl(['wait', '--for=create', 'serviceaccount/default', '-n', 'sys-ns', '--timeout=30s']);
  t.is(sa.code, 0, sa.stderr);
  const del = await cluster.kubectl(['delete', 'namespace', 'sys-ns', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
  t.is(del.code, 0, del.stderr);
  const gone = await cluster.kubectl(['get', 'namespace', 'sys-ns']);
  t.regex(gone.stderr, /NotFound/);
});

const httpRoute = (pathType: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-${pathType.toLowerCase()}
  namespace: default
spec:
  parentRefs:
  - name: waypoint
    kind: Gateway
    group: gateway.networking.k8s.io
  rules:
  - matches:
    - path:
        type: ${pathType}
        value: /api
    backendRefs:
    - name: web
      port: 80
`;

const authorizationPolicy = (action: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: policy-${action.toLowerCase()}
  namespace: default
spec:
  selector:
    matchLabels:
      app: web
  action: ${action}
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/client"]
`;

test.serial('Gateway API and Istio CRDs are served and validate', async (t) => {
  for (const crd of ['httproutes.gateway.networking.k8s.io', 'gateways.gateway.networking.k8s.io', 'authorizationpolicies.security.istio.io']) {
    const r = await cluster.kubectl(['get', 'crd', crd, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    t.is(r.stdout, 'True', `${crd} established`);
  }
  const okRoute = await cluster.kubectl(['apply', '-f', '-'], { input: httpRoute('PathPrefix') });
  t.is(okRoute.code, 0, okRoute.stderr);
  const badRoute = await cluster.kubectl(['apply', '-f', '-'], { input: httpRoute('Bogus') });
  t.not(badRoute.code, 0);
  t.regex(badRoute.stderr, /Unsupported value: "Bogus"/);

  const okPolicy = await cluster.kubectl(['apply', '-f', '-'], { input: authorizationPolicy('ALLOW') });
  t.is(okPolicy.code, 0, okPolicy.stderr);
  const badPolicy = await cluster.kubectl(['apply', '-f', '-'], { input: authorizationPolicy('PERMIT') });
  t.not(badPolicy.code, 0);
  t.regex(badPolicy.stderr, /Unsupported value: "PERMIT"/);

  const listed = await cluster.kubectl(['get', 'httproutes,authorizationpolicies', '-n', 'default', '-o', 'name']);
  t.deepEqual(listed.stdout.trim().split('\n').sort(), [
    'authorizationpolicy.security.istio.io/policy-allow',
    'httproute.gateway.networking.k8s.io/route-pathprefix',
  ]);
});

test.serial('pod traffic cannot leave the machine: the FORWARD guard comes first', async (t) => {
  const forward = await run('iptables', ['-w', '5', '-S', 'FORWARD']);
  const rules = forward.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD'));
  t.is(rules[0], '-A FORWARD -j AMBIT-FORWARD');
  const guard = await run('iptables', ['-w', '5', '-S', 'AMBIT-FORWARD']);
  t.regex(guard.stdout, /-A AMBIT-FORWARD -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*-j ACCEPT/);
  t.regex(guard.stdout, /-A AMBIT-FORWARD -s 10\.244\.0\.0\/16 .*-j REJECT/);
  // The apiserver listens on 0.0.0.0 for the pods' sake, but only loopback and pods may connect.
  const input = await run('iptables', ['-w', '5', '-S', 'AMBIT-INPUT']);
  t.regex(input.stdout, /-A AMBIT-INPUT ! -s 10\.244\.0\.0\/16 ! -i lo -p tcp -m tcp --dport 6443 .*-j REJECT/);
});

test.serial('stop() removes processes, namespaces, bridge, chains, mounts and the state dir', async (t) => {
  const { binDir, stateDir } = cluster;
  const podNetns = await podNetnsNames(cluster);
  await cluster.stop();
  t.deepEqual(await leftovers(binDir, stateDir, before, podNetns), noLeftovers);
});
