// An ingress Gateway (class istio) with bad parts on the local cluster: a listener whose certificate Secret is
// missing, a listener in protocol conflict on a port, a route to a Service that does not exist and a route to
// another namespace's Service without a ReferenceGrant. Each gets its status condition and reason, and the valid
// listener and route keep serving traffic from this machine through the LoadBalancer address.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { buildControlPlane, connectCluster, startCluster, waitFor, type Cluster } from '@ambit/cluster';
import { createShell, type Shell } from '../../src/shell.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const NS = 'ingress-bad-it';
const OTHER = 'ingress-bad-other-it';
let cluster: Cluster;
let shell: Shell;
let owned = false;
let installedHere = false;

async function sh(command: string, input?: string): Promise<string> {
  const r = await shell.run(command, { timeoutMs: 200_000, input });
  if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** curl from this machine (outside the cluster) with a Host header: the HTTP status and body. */
function curl(address: string, host: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-s', '-m', '5', '-H', `Host: ${host}`, '-w', '\n%{http_code}', `http://${address}/`], (_err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ status: stdout.slice(i + 1).trim(), body: stdout.slice(0, Math.max(0, i)) });
    });
  });
}

const backend = (ns: string) => `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: ${ns}, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: ambit/test-tools:0.1.0
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /tmp/w && echo "served by ${ns}" > /tmp/w/index.html && cd /tmp/w && exec python3 -m http.server 8080']
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${ns}}
spec:
  selector: {app: web}
  ports: [{port: 8080, name: http}]
`;

const gateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: ${NS}}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: clash, port: 80, protocol: HTTPS, hostname: clash.example, tls: {certificateRefs: [{name: missing-cert}]}}
  - {name: https, port: 443, protocol: HTTPS, hostname: secure.example, tls: {certificateRefs: [{name: missing-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: ${NS}}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [good.example]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing-backend, namespace: ${NS}}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [missing.example]
  rules: [{backendRefs: [{name: nope, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross, namespace: ${NS}}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [cross.example]
  rules: [{backendRefs: [{name: web, namespace: ${OTHER}, port: 8080}]}]
`;

type Condition = { type: string; status: string; reason: string };
const cond = (conds: Condition[] | undefined, type: string) => (conds ?? []).find((c) => c.type === type);

test.before(async () => {
  const binDir = await buildControlPlane();
  if (process.env.AMBIT_KUBECONFIG) cluster = await connectCluster(process.env.AMBIT_KUBECONFIG);
  else {
    cluster = await startCluster();
    owned = true;
  }
  shell = createShell({ kubeconfigPath: cluster.kubeconfigPath, pathPrepend: [join(repo, 'node_modules/.bin'), binDir], cwd: repo });
  if ((await shell.run('kubectl get daemonset ztunnel -n istio-system')).code !== 0) {
    await waitFor('istio-system not terminating', async () => (await shell.run("kubectl get namespace istio-system -o jsonpath='{.status.phase}'")).stdout.trim() !== 'Terminating', 180_000, 1000);
    await sh('ambit install');
    installedHere = true;
  }
});

test.after.always(async () => {
  if (shell) {
    await shell.run(`kubectl delete namespace ${NS} ${OTHER} --ignore-not-found --wait=true --timeout=120s`);
    if (installedHere) await shell.run('ambit uninstall');
  }
  if (owned) await cluster.stop();
});

test.serial('bad listeners and routes get their conditions; the valid listener and route keep serving', async (t) => {
  await sh(`kubectl create namespace ${NS}; kubectl create namespace ${OTHER}`);
  await sh('kubectl apply -f -', backend(NS) + '---' + backend(OTHER) + '---' + gateway);
  await sh(`kubectl wait --for=condition=Ready pod/web -n ${NS} --timeout=120s`);

  const gw = await waitFor(
    'Gateway edge has an address and listener conditions',
    async () => {
      const g = JSON.parse(await sh(`kubectl get gtw edge -n ${NS} -o json`)) as {
        status?: { addresses?: Array<{ value: string }>; listeners?: Array<{ name: string; attachedRoutes: number; conditions: Condition[] }> };
      };
      return g.status?.addresses?.length && (g.status.listeners?.length ?? 0) === 3 ? g.status : undefined;
    },
    180_000,
    1000,
  );
  const listener = (name: string) => gw.listeners!.find((l) => l.name === name)!;
  t.is(cond(listener('https').conditions, 'ResolvedRefs')?.reason, 'InvalidCertificateRef', 'a missing certificate Secret');
  t.is(cond(listener('https').conditions, 'Programmed')?.status, 'False');
  t.is(cond(listener('clash').conditions, 'Conflicted')?.reason, 'ProtocolConflict', 'HTTPS on the HTTP listener port');
  t.is(cond(listener('http').conditions, 'Programmed')?.status, 'True');
  t.is(cond(listener('http').conditions, 'Conflicted')?.status, 'False');
  t.is(listener('http').attachedRoutes, 3);

  const routeCond = async (name: string, type: string) => {
    const r = JSON.parse(await sh(`kubectl get httproute ${name} -n ${NS} -o json`)) as { status?: { parents?: Array<{ conditions: Condition[] }> } };
    return cond(r.status?.parents?.[0]?.conditions, type);
  };
  const resolved = async (name: string, reason: string) =>
    waitFor(`HTTPRoute ${name} ResolvedRefs ${reason}`, async () => ((await routeCond(name, 'ResolvedRefs'))?.reason === reason ? true : undefined), 60_000, 1000);
  t.true(await resolved('missing-backend', 'BackendNotFound'));
  t.true(await resolved('cross', 'RefNotPermitted'));
  t.true(await resolved('good', 'ResolvedRefs'));
  t.is((await routeCond('good', 'Accepted'))?.status, 'True');

  // From outside the cluster, through the LoadBalancer address: the valid route serves; the broken ones answer 500.
  const address = gw.addresses![0]!.value;
  const good = await waitFor('the good route serves', async () => {
    const r = await curl(address, 'good.example');
    return r.status === '200' ? r : undefined;
  }, 90_000, 1000);
  t.regex(good.body, new RegExp(`served by ${NS}`));
  t.is((await curl(address, 'missing.example')).status, '500');
  t.is((await curl(address, 'cross.example')).status, '500');
  // A Host no route claims: 404, never a forward to an arbitrary place.
  t.is((await curl(address, 'elsewhere.example')).status, '404');
});
