// An ingress Gateway (class istio) with bad parts on the local cluster: a listener whose certificate Secret is
// missing, a listener in protocol conflict on a port, a route to a Service that does not exist and a route to
// another namespace's Service without a ReferenceGrant. Each gets its status condition and reason, and the valid
// listener and route keep serving traffic from this machine through the LoadBalancer address.
import { execFile } from 'node:child_process';
import test from 'ava';
import { openMeshCluster, serverManifest, waitFor, type TestCluster } from '@ambit/cluster';

const NS = 'ingress-bad-it';
const OTHER = 'ingress-bad-other-it';
let mesh: TestCluster | undefined;
const sh = (command: string, input?: string) => mesh!.sh(command, input);

/** curl from this machine (outside the cluster) with a Host header: the HTTP status and body. */
function curl(address: string, host: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-s', '-m', '5', '-H', `Host: ${host}`, '-w', '\n%{http_code}', `http://${address}/`], (_err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ status: stdout.slice(i + 1).trim(), body: stdout.slice(0, Math.max(0, i)) });
    });
  });
}

/** Pod `web` answering `served by <ns>`, behind Service `web` on 8080. */
const backend = (ns: string) => serverManifest({ name: 'web', namespace: ns, pod: true, body: `served by ${ns}`, service: { port: 8080, name: 'http' }, readinessPeriodSeconds: 1 });

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
  mesh = await openMeshCluster({ namespaces: [NS, OTHER], commandTimeoutMs: 200_000 });
});

test.after.always(async () => {
  await mesh?.close();
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
