// The waypoint controller out-of-cluster against a real API server: objects, status, CLI, deletion, restarts,
// two replicas, bad input. Runs on the shared cluster (AMBIT_KUBECONFIG) or a private control plane.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nullLogger } from '@ambit/mesh-api';
import { KubeClient, R, Registry, renderWaypoint, type Condition, type Gateway, type KubeObject } from '../../src/index.js';
import { runController, type RunningController } from '../../src/main.js';
import { eventually, getTestCluster, type TestCluster } from './env.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(root, 'src', 'main.js');
const CLI = join(root, 'src', 'cli', 'main.js');
const NS = `ambit-wp-${process.pid}`;
const ns2 = `${NS}-b`;
let cluster: TestCluster;
let client: KubeClient;
let ctl: RunningController | undefined;
const children: ChildProcess[] = [];

function gateway(name: string, namespace = NS, extra: Partial<Gateway['metadata']> = {}, listeners = [{ name: 'mesh', port: 15008, protocol: 'HBONE' }]): Gateway {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace, ...extra }, spec: { gatewayClassName: 'istio-waypoint', listeners } };
}

const programmed = (g: Gateway | undefined): Condition | undefined => g?.status?.conditions?.find((c) => c.type === 'Programmed');
const getGw = (name: string, namespace = NS) => client.getOrUndefined<Gateway>(R.gateway, namespace, name);

/** Makes a waypoint's Service look served: a Ready endpoint in an EndpointSlice of our own (no kubelet needed). */
async function standInReady(service: string, namespace = NS): Promise<void> {
  await client.apply(
    R.endpointSlice,
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${service}-standin`,
        namespace,
        labels: { 'kubernetes.io/service-name': service, 'gateway.istio.io/managed': 'istio.io-mesh-controller', 'endpointslice.kubernetes.io/managed-by': 'ambit-test' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.200.1'], conditions: { ready: true } }],
      ports: [{ name: 'mesh', port: 15008, protocol: 'TCP' }],
    },
    { fieldManager: 'ambit-test', force: true },
  );
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, '--kubeconfig', cluster.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function startControllerProcess(identity: string, leaseNs: string): ChildProcess & { logs: string[] } {
  const p = spawn(process.execPath, [MAIN, '--kubeconfig', cluster.kubeconfig, '--monitoring-port', '0', '--identity', identity, '--namespace', leaseNs, '--lease-duration', '3', '--no-components'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, AMBIT_LOG_LEVEL: 'info' },
  }) as ChildProcess & { logs: string[] };
  p.logs = [];
  let buf = '';
  p.stderr!.on('data', (c) => {
    buf += c;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    p.logs.push(...lines);
  });
  children.push(p);
  return p;
}

const exited = (p: ChildProcess) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r)));

test.before(async () => {
  cluster = await getTestCluster();
  client = cluster.client;
  for (const n of [NS, ns2]) await client.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });
});

test.after.always(async () => {
  await ctl?.stop();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const n of [NS, ns2]) await client.delete(R.namespace, undefined, n).catch(() => {});
  await cluster?.stop();
});

async function inProcessController(): Promise<RunningController> {
  ctl ??= await runController({ kubeconfig: cluster.kubeconfig, monitoringPort: 0, leaderElect: false, waypointsOnly: true, log: nullLogger, registry: new Registry() });
  return ctl;
}

test.serial('a Gateway becomes ServiceAccount + Deployment + Service of the golden shape; Programmed waits for readiness', async (t) => {
  await inProcessController();
  const created = await client.create<Gateway>(R.gateway, gateway('waypoint'));
  const want = renderWaypoint(created, { version: '0.1.0' });
  const sa = await eventually(() => client.getOrUndefined(R.serviceAccount, NS, 'waypoint'), 20_000, 'ServiceAccount');
  const dep = await eventually(() => client.getOrUndefined(R.deployment, NS, 'waypoint'), 20_000, 'Deployment');
  const svc = await eventually(() => client.getOrUndefined<KubeObject & { spec: { ports: unknown[]; clusterIP: string } }>(R.service, NS, 'waypoint'), 20_000, 'Service');
  for (const [live, desired] of [
    [sa, want.serviceAccount],
    [dep, want.deployment],
    [svc, want.service],
  ] as Array<[KubeObject, KubeObject]>) {
    t.like(live.metadata, { labels: desired.metadata.labels, ownerReferences: desired.metadata.ownerReferences });
    t.is(live.metadata.labels?.['gateway.istio.io/managed'], 'istio.io-mesh-controller');
    // Server-side apply with Istio's field manager.
    t.true(JSON.stringify(live.metadata.managedFields).includes('"manager":"istio.io/gateway-controller"'));
  }
  t.deepEqual((dep.spec as { selector: unknown }).selector, (want.deployment.spec as { selector: unknown }).selector);
  const podSpec = (dep.spec as { template: { spec: { containers: Array<{ name: string; image: string; ports: Array<{ containerPort: number }> }> } } }).template.spec;
  t.is(podSpec.containers[0].name, 'istio-proxy');
  t.is(podSpec.containers[0].image, 'ambit/waypoint:0.1.0');
  t.deepEqual(podSpec.containers[0].ports.map((p) => p.containerPort), [15008, 15020, 15021]);
  t.deepEqual(svc.spec.ports, [
    { name: 'status-port', port: 15021, protocol: 'TCP', appProtocol: 'tcp', targetPort: 15021 },
    { name: 'mesh', port: 15008, protocol: 'TCP', appProtocol: 'hbone', targetPort: 15008 },
  ]);
  // Not ready yet.
  const pending = await eventually(async () => {
    const g = await getGw('waypoint');
    return programmed(g)?.reason === 'AddressNotAssigned' || programmed(g)?.reason === 'AddressNotUsable' ? g : undefined;
  }, 20_000, 'Programmed=False');
  t.is(programmed(pending)?.status, 'False');
  t.is(pending!.metadata.annotations?.['gateway.istio.io/controller-version'], '5');
  for (const c of pending!.status!.conditions!) t.is(c.observedGeneration, 1);
  // Ready endpoint behind the Service -> Programmed True with Istio's message and both addresses.
  await standInReady('waypoint');
  const ready = await eventually(async () => {
    const g = await getGw('waypoint');
    return programmed(g)?.status === 'True' ? g : undefined;
  }, 20_000, 'Programmed=True');
  t.deepEqual(
    { ...programmed(ready), lastTransitionTime: undefined },
    { type: 'Programmed', status: 'True', reason: 'Programmed', message: `Resource programmed, assigned to service(s) waypoint.${NS}.svc.cluster.local:15008`, observedGeneration: 1, lastTransitionTime: undefined },
  );
  t.deepEqual(ready!.status!.addresses, [
    { type: 'IPAddress', value: svc.spec.clusterIP },
    { type: 'Hostname', value: `waypoint.${NS}.svc.cluster.local` },
  ]);
  // The GatewayClasses exist and are accepted.
  for (const name of ['istio-mesh', 'istio-waypoint']) {
    const cls = await eventually(async () => {
      const c = await client.getOrUndefined<KubeObject & { spec: { controllerName: string }; status?: { conditions?: Condition[] } }>(R.gatewayClass, undefined, name);
      return c?.status?.conditions?.some((x) => x.type === 'Accepted' && x.status === 'True') ? c : undefined;
    }, 10_000, `GatewayClass ${name}`);
    t.is(cls.spec.controllerName, 'istio.io/mesh-controller');
    t.is(cls.status!.conditions![0].message, 'Handled by Istio controller');
  }
});

test.serial('Services bound with istio.io/use-waypoint get istio.io/WaypointBound', async (t) => {
  await inProcessController();
  const svc = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, labels }, spec: { ports: [{ port: 9080 }], selector: { app: name } } });
  await client.create(R.service, svc('productpage', { 'istio.io/use-waypoint': 'waypoint' }));
  await client.create(R.service, svc('ghost', { 'istio.io/use-waypoint': 'missing' }));
  const cond = (name: string) => async () => (await client.get<KubeObject & { status?: { conditions?: Condition[] } }>(R.service, NS, name)).status?.conditions?.find((c) => c.type === 'istio.io/WaypointBound');
  const ok = await eventually(cond('productpage'), 20_000, 'WaypointBound on productpage');
  t.like(ok, { status: 'True', reason: 'WaypointAccepted', message: `Successfully attached to waypoint ${NS}/waypoint` });
  const bad = await eventually(cond('ghost'), 20_000, 'WaypointBound on ghost');
  t.like(bad, { status: 'False', reason: 'WaypointIsNotReady', message: `waypoint "${NS}/missing" is not ready` });
  // Removing the label removes the condition.
  await client.mergePatch(R.service, NS, 'ghost', { metadata: { labels: { 'istio.io/use-waypoint': null } } });
  await eventually(async () => !(await cond('ghost')()), 20_000, 'condition removed');
  t.pass();
});

test.serial('bad input ends in status conditions and the controller keeps running', async (t) => {
  const c = await inProcessController();
  // An invalid listener.
  await client.create(R.gateway, gateway('invalid', NS, {}, [{ name: 'mesh', port: 1234, protocol: 'HTTP' }]));
  const inv = await eventually(async () => {
    const g = await getGw('invalid');
    return g?.status?.listeners?.length ? g : undefined;
  }, 20_000, 'invalid listener status');
  t.like(inv.status!.listeners![0].conditions.find((x) => x.type === 'Accepted'), { status: 'False', reason: 'UnsupportedProtocol', message: 'Expected a single listener on port 15008 with protocol "HBONE"' });
  t.like(inv.status!.conditions!.find((x) => x.type === 'Accepted'), { status: 'False', reason: 'ListenersNotValid' });
  // An unmanaged Deployment in the way.
  await client.create(R.deployment, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'squatter', namespace: NS },
    spec: { replicas: 0, selector: { matchLabels: { app: 'squatter' } }, template: { metadata: { labels: { app: 'squatter' } }, spec: { containers: [{ name: 'c', image: 'ambit/test-tools:0.1.0' }] } } },
  });
  await client.create(R.gateway, gateway('squatter'));
  const sq = await eventually(async () => {
    const g = await getGw('squatter');
    return programmed(g)?.reason === 'Invalid' ? g : undefined;
  }, 20_000, 'conflict condition');
  t.regex(programmed(sq)!.message, /^Deployment .*\/squatter already exists and is not managed by istio.io\/mesh-controller/);
  const untouched = await client.get(R.deployment, NS, 'squatter');
  t.is(untouched.metadata.labels, undefined);
  t.is(untouched.metadata.ownerReferences, undefined);
  // A Gateway the CRD accepts but we cannot serve as asked (two addresses): status says so.
  await client.create(R.gateway, { ...gateway('addrs'), spec: { ...gateway('addrs').spec, addresses: [{ type: 'IPAddress', value: '10.0.0.1' }, { type: 'IPAddress', value: '10.0.0.2' }] } });
  const ad = await eventually(async () => {
    const g = await getGw('addrs');
    return programmed(g) && programmed(g)!.reason !== 'Pending' ? g : undefined;
  }, 20_000, 'addresses status');
  t.is(programmed(ad)!.reason, 'Invalid');
  // Still alive and reconciling.
  await client.create(R.gateway, gateway('after-bad'));
  await eventually(() => client.getOrUndefined(R.deployment, NS, 'after-bad'), 20_000, 'reconcile after bad input');
  t.true(c.waypoints.gateways.size > 0);
});

test.serial('ambit waypoint apply --service-account --wait, list, status, delete --all', async (t) => {
  await inProcessController();
  // Make the waypoint Service look served as soon as it exists.
  const helper = (async () => {
    await eventually(() => client.getOrUndefined(R.service, ns2, 'bookinfo-productpage-istio-waypoint'), 30_000, 'waypoint service');
    await standInReady('bookinfo-productpage-istio-waypoint', ns2);
  })();
  const r = await cli(['waypoint', 'apply', '--service-account', 'bookinfo-productpage', '--wait', '-n', ns2]);
  await helper;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `waypoint ${ns2}/bookinfo-productpage applied\nwaypoint ${ns2}/bookinfo-productpage is ready!\n`);
  const gw = await getGw('bookinfo-productpage', ns2);
  t.is(gw!.spec.gatewayClassName, 'istio-mesh');
  t.is(gw!.metadata.annotations?.['istio.io/service-account'], 'bookinfo-productpage');
  t.is(programmed(gw)!.message, `Resource programmed, assigned to service(s) bookinfo-productpage-istio-waypoint.${ns2}.svc.cluster.local:15008`);

  const gen = await cli(['waypoint', 'apply', '-n', ns2, '--for', 'workload', '--enroll-namespace']);
  t.is(gen.code, 0, gen.stderr);
  t.is(gen.stdout, `Warning: namespace is not enrolled in ambient. Consider running\t\`kubectl label namespace ${ns2} istio.io/dataplane-mode=ambient\`\nwaypoint ${ns2}/waypoint applied\nnamespace ${ns2} labeled with "istio.io/use-waypoint: waypoint"\n`);
  const again = await cli(['waypoint', 'apply', '-n', ns2, '--enroll-namespace']);
  t.is(again.stdout, `Warning: namespace (${ns2}) already has an enrolled Waypoint. Consider adding the \`--overwrite\` flag to your apply command.\n`);

  const list = await cli(['waypoint', 'list', '-n', ns2]);
  t.is(list.stdout, 'NAME                     REVISION     TRAFFIC TYPE     PROGRAMMED\nbookinfo-productpage     default      none             True\nwaypoint                 default      workload         False\n');
  const all = await cli(['waypoint', 'list', '-A']);
  t.regex(all.stdout, /^NAMESPACE\s+NAME\s+REVISION\s+TRAFFIC TYPE\s+PROGRAMMED\n/);
  t.regex(all.stdout, new RegExp(`\\n${ns2}\\s+bookinfo-productpage\\s+default\\s+none\\s+True\\n`));
  const st = await cli(['waypoint', 'status', '-n', ns2, '--name', 'bookinfo-productpage']);
  t.is(st.stdout, `NAME                     STATUS     TYPE           REASON         MESSAGE\nbookinfo-productpage     True       Programmed     Programmed     Resource programmed, assigned to service(s) bookinfo-productpage-istio-waypoint.${ns2}.svc.cluster.local:15008\n`);
  const to = await cli(['waypoint', 'status', '-n', ns2, '--name', 'waypoint', '--waypoint-timeout', '2s']);
  t.is(to.code, 1);
  t.true(to.stderr.endsWith(`Error: failed to print waypoint status: timed out while retrieving status for waypoint\t${ns2}/waypoint\n`));
  const tw = await cli(['waypoint', 'apply', '-n', ns2, '--wait', '--waypoint-timeout', '2s']);
  t.is(tw.code, 1);
  t.is(tw.stderr, `Error: timed out while waiting for waypoint\t${ns2}/waypoint\n`);

  const del = await cli(['waypoint', 'delete', '--all', '-n', ns2]);
  t.is(del.stdout, `waypoint ${ns2}/bookinfo-productpage deleted\nwaypoint ${ns2}/waypoint deleted\n`);
  const nf = await cli(['waypoint', 'delete', 'nope', '-n', ns2]);
  t.is(nf.stdout, `waypoint ${ns2}/nope not found\n`);
  // Everything the controller made goes with the Gateways.
  await eventually(async () => {
    const left = await Promise.all([
      client.list(R.deployment, ns2, { labelSelector: 'gateway.istio.io/managed=istio.io-mesh-controller' }),
      client.list(R.service, ns2, { labelSelector: 'gateway.istio.io/managed=istio.io-mesh-controller' }),
      client.list(R.serviceAccount, ns2, { labelSelector: 'gateway.istio.io/managed=istio.io-mesh-controller' }),
    ]);
    return left.every((l) => l.items.length === 0);
  }, 60_000, 'objects removed');
  const empty = await cli(['waypoint', 'list', '-n', ns2]);
  t.is(empty.stdout, 'No waypoints found.\n');
});

test.serial('killed mid-reconcile and restarted: no duplicates, no orphans, status converges', async (t) => {
  await ctl?.stop();
  ctl = undefined;
  const leaseNs = NS;
  const a = startControllerProcess('crash-a', leaseNs);
  await eventually(() => a.logs.some((l) => l.includes('became leader')), 30_000, 'leader');
  const N = 20;
  await Promise.all(Array.from({ length: N }, (_, i) => client.create(R.gateway, gateway(`crash-${i}`, ns2))));
  await eventually(() => a.logs.some((l) => l.includes('applied') && l.includes(`${ns2}/crash-`)), 20_000, 'first applies');
  a.kill('SIGKILL');
  await exited(a);
  const b = startControllerProcess('crash-b', leaseNs);
  // b takes over once a's lease expires, finishes the job.
  await eventually(async () => {
    const gws = await client.list<Gateway>(R.gateway, ns2);
    return gws.items.filter((g) => g.metadata.name!.startsWith('crash-')).every((g) => programmed(g)?.reason === 'AddressNotAssigned' || programmed(g)?.reason === 'AddressNotUsable');
  }, 60_000, 'statuses converge');
  const deps = (await client.list(R.deployment, ns2)).items.filter((d) => d.metadata.name!.startsWith('crash-'));
  t.is(deps.length, N);
  for (const d of deps) t.is(d.metadata.ownerReferences?.length, 1);
  const svcs = (await client.list(R.service, ns2)).items.filter((d) => d.metadata.name!.startsWith('crash-'));
  t.is(svcs.length, N);
  t.true(b.logs.some((l) => l.includes('became leader')));
  // Delete half while b runs: their objects go.
  await Promise.all(Array.from({ length: N / 2 }, (_, i) => client.delete(R.gateway, ns2, `crash-${i}`)));
  await eventually(async () => (await client.list(R.deployment, ns2)).items.filter((d) => d.metadata.name!.startsWith('crash-')).length === N / 2, 60_000, 'orphans removed');
  b.kill('SIGTERM');
  await exited(b);
  t.pass();
});

test.serial('two replicas: exactly one reconciles; the standby takes over', async (t) => {
  const leaseNs = ns2;
  const a = startControllerProcess('replica-a', leaseNs);
  const b = startControllerProcess('replica-b', leaseNs);
  await eventually(() => [a, b].some((p) => p.logs.some((l) => l.includes('became leader'))), 30_000, 'a leader');
  await new Promise((r) => setTimeout(r, 1500));
  const leaders = [a, b].filter((p) => p.logs.some((l) => l.includes('became leader')));
  t.is(leaders.length, 1);
  const leader = leaders[0];
  const standby = leader === a ? b : a;
  await client.create(R.gateway, gateway('replica-test', ns2));
  await eventually(() => client.getOrUndefined(R.deployment, ns2, 'replica-test'), 20_000, 'reconciled');
  await new Promise((r) => setTimeout(r, 500));
  t.true(leader.logs.some((l) => l.includes('applied') && l.includes('replica-test')));
  t.false(standby.logs.some((l) => l.includes('\tapplied\t')));
  // The leader dies without releasing: the standby takes over after the lease expires.
  leader.kill('SIGKILL');
  await exited(leader);
  await eventually(() => standby.logs.some((l) => l.includes('became leader')), 30_000, 'takeover');
  await client.create(R.gateway, gateway('replica-test-2', ns2));
  await eventually(() => client.getOrUndefined(R.deployment, ns2, 'replica-test-2'), 20_000, 'reconciled by the new leader');
  standby.kill('SIGTERM');
  await exited(standby);
  t.pass();
});
