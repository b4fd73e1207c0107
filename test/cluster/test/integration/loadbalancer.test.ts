// Integration: Services of type LoadBalancer on the shared local cluster get an address of the pool in
// status.loadBalancer.ingress, and `curl http://<address>/` from this machine (outside the cluster) reaches the
// Service's pod; an address is released when its Service is deleted or changes type, and never shared.
import { execFile } from 'node:child_process';
import test from 'ava';
import { clusterNetwork, serverManifest } from '../../src/index.js';
import { inPool, parsePool } from '../../src/loadbalancer/pool.js';
import { eventually, kubectlOk, sharedCluster } from './helpers.js';

const ns = `lb-${process.pid}`;
const pool = parsePool(clusterNetwork.loadBalancerCidr);

/** Namespace `ns` and pod `web` answering `served by web`; the LoadBalancer Services come one by one. */
const manifests = `
apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---${serverManifest({ name: 'web', namespace: ns, pod: true, service: false, body: 'served by web', readinessPeriodSeconds: 1 })}`;
const lbService = (name: string, loadBalancerIP?: string) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  type: LoadBalancer${loadBalancerIP ? `\n  loadBalancerIP: ${loadBalancerIP}` : ''}
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;

/** curl from this machine: its stdout, or the exit code when it fails. */
function curl(url: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-m', '3', url], (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, body: stdout }));
  });
}

test('a LoadBalancer Service gets a pool address that curl from the host reaches; deleting or retyping releases it', async (t) => {
  const cluster = await sharedCluster();
  const k = (args: string[], input?: string) => kubectlOk(cluster, args, input);
  const ingress = async (svc: string) => (await k(['-n', ns, 'get', 'svc', svc, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim();
  t.teardown(() => cluster.kubectl(['delete', 'namespace', ns, '--wait=false']).then(() => {}));

  await k(['apply', '-f', '-'], manifests + '---' + lbService('web') + '---' + lbService('web-2'));
  await k(['-n', ns, 'wait', '--for=condition=Ready', 'pod/web', '--timeout=120s']);
  const first = await eventually('web gets an address', async () => (await ingress('web')) || undefined, 30_000);
  const second = await eventually('web-2 gets an address', async () => (await ingress('web-2')) || undefined, 30_000);
  t.true(inPool(pool, first), `${first} is in ${pool.cidr}`);
  t.true(inPool(pool, second), `${second} is in ${pool.cidr}`);
  t.not(first, second, 'one address per Service');

  // From outside the cluster: kube-proxy's DNAT for the address, the host route to the pool.
  const body = await eventually('curl http://<address>/ answers', async () => {
    const r = await curl(`http://${first}/`);
    return r.code === 0 ? r.body : undefined;
  }, 30_000);
  t.is(body.trim(), 'served by web');

  // Retyped: the address leaves the status, and traffic to it stops.
  await k(['-n', ns, 'patch', 'svc', 'web-2', '--type=merge', '-p', '{"spec":{"type":"ClusterIP"}}']);
  await eventually('web-2 loses its address', async () => (await ingress('web-2')) === '' || undefined, 30_000);

  // Taken: a Service asking for web's address (spec.loadBalancerIP) gets none while web holds it.
  await k(['apply', '-f', '-'], lbService('web-3', first));
  await new Promise((r) => setTimeout(r, 2000));
  t.is(await ingress('web-3'), '', 'an address held by another Service is not handed out twice');

  // Deleted: the address is free again, and the Service asking for it gets it.
  await k(['-n', ns, 'delete', 'svc', 'web', '--wait=true']);
  const third = await eventually('web-3 gets the released address', async () => (await ingress('web-3')) || undefined, 30_000);
  t.is(third, first);
  const holders = (await k(['get', 'svc', '-A', '-o', 'jsonpath={range .items[*]}{.status.loadBalancer.ingress[*].ip}{"\\n"}{end}']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  t.is(new Set(holders).size, holders.length, `no address held twice: ${holders.join(', ')}`);
  const r = await eventually('curl reaches web-3', async () => {
    const c = await curl(`http://${third}/`);
    return c.code === 0 ? c.body : undefined;
  }, 30_000);
  t.is(r.trim(), 'served by web');
});
