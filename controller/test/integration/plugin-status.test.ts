// WaypointPlugin status end to end on loopback, against a real kube-apiserver: the control plane as main.ts wires it
// (CA, config push, mesh model, the status writer), running as istio-system/istiod with exactly the RBAC of the
// install manifests, and a real waypoint runtime fed by its push stream. Plugins are npm-packed local tarballs.
// What a user sees with `kubectl get waypointplugin`: Loaded, an integrity mismatch, a package that throws when
// imported, a plugin that throws on live traffic (fail closed: 503, Degraded), one that targets nothing, an upgrade.

import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'ava';
import { ControllerConfigSource, Waypoint } from '@ambit/waypoint-runtime';
import { parseControllerConfig } from '../../src/config.js';
import { createControlPlane, type ControlPlane } from '../../src/control-plane.js';
import type { Component } from '../../src/kube/component.js';
import { KubeClient } from '../../src/kube/client.js';
import { nullLogger } from '@ambit/mesh-api';
import { Registry } from '../../src/kube/metrics.js';
import { R, type Condition, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { eventually, getTestCluster, kubectl, type TestCluster } from './env.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const NS = 'wpp-status-it';
const SYS = 'istio-system';
const WPP: ResourceType = { group: 'extensions.ambit.dev', version: 'v1alpha1', plural: 'waypointplugins', kind: 'WaypointPlugin', namespaced: true };
type Plugin = KubeObject & { status?: { conditions?: Condition[] } };

let cluster: TestCluster;
let cp: ControlPlane | undefined;
let writer: Component | undefined;
let waypoint: Waypoint | undefined;
let httpUrl = '';
let ownRbac = false;
const work = mkdtempSync(join(tmpdir(), 'ambit-wpp-status-'));
const helloSource = (v: string) => `export default class Hello { constructor() { this.name = 'hello'; } onRequest(ctx) { ctx.setRequestHeader('x-hello', '${v}'); } }\n`;
let hello: { tarball: string; integrity: string };

function run(args: string[], input?: string): string {
  const r = kubectl(cluster.kubeconfig, args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A plugin package packed by npm into a local tarball. */
function npmPack(name: string, version: string, source: string): { tarball: string; integrity: string } {
  const dir = join(work, `${name}-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version, type: 'module', main: 'index.js', peerDependencies: { '@ambit/plugin-sdk': '*' } }));
  writeFileSync(join(dir, 'index.js'), source);
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: dir, encoding: 'utf8' })) as Array<{ filename: string; integrity: string }>;
  return { tarball: join(work, info!.filename), integrity: info!.integrity };
}

async function token(namespace: string, sa: string, audiences?: string[]): Promise<string> {
  const r = await cluster.client.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: audiences ? { audiences } : {} },
  });
  return r.status.token;
}

async function create(rt: ResourceType, obj: KubeObject): Promise<void> {
  await cluster.client.create(rt, obj).catch(() => undefined);
}

const waypointRef = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' };

function pluginYaml(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'extensions.ambit.dev/v1alpha1', kind: 'WaypointPlugin', metadata: { name, namespace: NS }, spec });
}

/** `kubectl get waypointplugin` as rows keyed by column name. */
function table(): Map<string, Record<string, string>> {
  const [header, ...lines] = run(['get', 'waypointplugin', '-n', NS]).trimEnd().split('\n');
  const cols = header!.trim().split(/\s+/);
  return new Map(
    lines.map((l) => {
      const cells = l.trim().split(/\s+/);
      const row = Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
      return [row.NAME!, row];
    }),
  );
}

function get(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function active(name: string, pred: (c: Condition, p: Plugin) => boolean, what: string): Promise<{ c: Condition; p: Plugin }> {
  return eventually(async () => {
    const p = await cluster.client.get<Plugin>(WPP, NS, name);
    const c = p.status?.conditions?.find((x) => x.type === 'Active');
    return c && pred(c, p) ? { c, p } : undefined;
  }, 60_000, what);
}

test.before(async () => {
  cluster = await getTestCluster();
  run(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'crds/ambit/extensions.ambit.dev_waypointplugins.yaml')]);
  run(['wait', '--for=condition=Established', '--timeout=60s', 'crd/waypointplugins.extensions.ambit.dev']);
  // The controller's own identity and rights, from the install manifests.
  ownRbac = !(await cluster.client.getOrUndefined(R.clusterRole, undefined, 'istiod-istio-system'));
  run(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'controller/manifests/00-namespace.yaml')]);
  run(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'controller/manifests/10-controller-rbac.yaml')]);
  const istiodToken = await token(SYS, 'istiod');
  const istiod = new KubeClient({ ...cluster.client.access, cert: undefined, key: undefined, basic: undefined, token: () => istiodToken });

  await create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  // The administrator's allow-list (SECURITY.md, Plugins): these tests' packages, from their work directory.
  await create(R.configMap, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'ambit-plugin-policy', namespace: SYS },
    data: { packages: 'wpp-status-hello\nwpp-status-crashes\nwpp-status-thrower\n', sources: `${pathToFileURL(work).href}/\n` },
  } as KubeObject);
  await create(R.gateway, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: NS },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  // A Service that uses the waypoint: the waypoint serves only destinations bound to it.
  await create(R.service, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: NS, labels: { 'istio.io/use-waypoint': 'waypoint' } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  } as KubeObject);
  // As the controller renders a waypoint: its own ServiceAccount, owned by the Gateway, and a pod running as it
  // (never scheduled here: the runtime below plays it on loopback). The config stream only serves a token bound to
  // such a pod (controller/src/push/authorize.ts).
  const gw = await cluster.client.get<KubeObject>(R.gateway, NS, 'waypoint');
  // The address the gateway controller would report once the waypoint's Service exists: Services bind to it.
  run(['patch', 'gateway', 'waypoint', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { addresses: [{ type: 'Hostname', value: `waypoint.${NS}.svc.cluster.local` }] } })]);
  await create(R.serviceAccount, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'waypoint', namespace: NS, ownerReferences: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'waypoint', uid: gw.metadata.uid! }] },
  } as KubeObject);
  await create(R.pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'waypoint-0', namespace: NS },
    spec: { serviceAccountName: 'waypoint', nodeName: 'not-a-node', containers: [{ name: 'istio-proxy', image: 'ambit/waypoint:0.1.0' }] },
  } as KubeObject);

  cp = createControlPlane({ client: istiod, log: nullLogger, registry: new Registry(), config: parseControllerConfig({ POD_NAMESPACE: SYS, AMBIT_CA_PORT: '0' }) });
  const signal = new AbortController().signal;
  for (const c of cp.components.filter((c) => !c.leaderOnly)) await c.start(signal);
  writer = cp.status;
  await writer.start(signal);

  const pod = await cluster.client.get<KubeObject>(R.pod, NS, 'waypoint-0');
  const waypointToken = (
    await cluster.client.request<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${NS}/serviceaccounts/waypoint/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['istio-ca'], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'waypoint-0', uid: pod.metadata.uid } } },
    })
  ).status.token;
  waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: NS },
    source: new ControllerConfigSource({ address: `https://localhost:${cp.ca.server.port}`, rootCert: cp.ca.rootPem, token: waypointToken, waypoint: `${NS}/waypoint` }),
    pluginsDir: join(work, 'plugins'),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
    accessLog: { write() {} },
  });
  await waypoint.start();
  const ports = await waypoint.listen({ http: { port: 0, host: '127.0.0.1' } });
  httpUrl = `http://127.0.0.1:${ports.http}`;
});

test.after.always(async () => {
  await waypoint?.close(100);
  await writer?.stop();
  for (const c of [...(cp?.components ?? [])].reverse()) await c.stop();
  await cp?.informers.stop();
  if (cluster) {
    await cluster.client.delete(R.namespace, undefined, NS).catch(() => {});
    await cluster.client.delete(R.configMap, SYS, 'ambit-plugin-policy').catch(() => {});
    if (ownRbac) kubectl(cluster.kubeconfig, ['delete', '--ignore-not-found', '-f', join(repo, 'controller/manifests/10-controller-rbac.yaml')]);
    await cluster.stop();
  }
  rmSync(work, { recursive: true, force: true });
});

test.serial('kubectl get waypointplugin shows why each plugin is, or is not, active', async (t) => {
  hello = npmPack('wpp-status-hello', '1.0.0', helloSource('1'));
  const crashes = npmPack('wpp-status-crashes', '1.0.0', `throw new Error('licence key missing');\n`);
  const bogus = 'sha512-' + Buffer.alloc(64, 7).toString('base64');
  run(['apply', '-f', '-'], [
    pluginYaml('hello', { targetRefs: [waypointRef], package: { name: 'wpp-status-hello', version: '1.0.0', tarball: hello.tarball, integrity: hello.integrity } }),
    pluginYaml('tampered', { targetRefs: [waypointRef], failStrategy: 'FAIL_OPEN', package: { name: 'wpp-status-hello', version: '1.0.0', tarball: hello.tarball, integrity: bogus } }),
    pluginYaml('crashes', { targetRefs: [waypointRef], failStrategy: 'FAIL_OPEN', package: { name: 'wpp-status-crashes', version: '1.0.0', tarball: crashes.tarball, integrity: crashes.integrity } }),
    pluginYaml('nowhere', { targetRefs: [{ ...waypointRef, name: 'no-such-waypoint' }], package: { name: 'wpp-status-hello', version: '1.0.0', tarball: hello.tarball, integrity: hello.integrity } }),
  ].join('\n'));

  const loaded = await active('hello', (c) => c.status === 'True', 'hello Active=True');
  t.like(loaded.c, { reason: 'Loaded', message: `waypoint ${NS}/waypoint: wpp-status-hello@1.0.0 active`, observedGeneration: 1 });
  const tampered = await active('tampered', (c) => c.status === 'False', 'tampered Active=False');
  t.is(tampered.c.reason, 'IntegrityMismatch');
  t.true(tampered.c.message.startsWith(`waypoint ${NS}/waypoint: integrity mismatch for wpp-status-hello@1.0.0: expected ${bogus}, got sha512-`), tampered.c.message);
  const crashed = await active('crashes', (c) => c.status === 'False', 'crashes Active=False');
  t.like(crashed.c, { reason: 'ImportFailed', message: `waypoint ${NS}/waypoint: cannot import wpp-status-crashes@1.0.0: licence key missing` });
  const nowhere = await active('nowhere', (c) => c.status === 'False', 'nowhere Active=False');
  t.like(nowhere.c, { reason: 'TargetNotFound', message: `no waypoint matches its targetRefs (Gateway ${NS}/no-such-waypoint): the target does not exist, is not a waypoint, or is not bound to one` });
  for (const x of [loaded, tampered, crashed, nowhere]) t.truthy(x.c.lastTransitionTime);

  const rows = table();
  t.like(rows.get('hello'), { PACKAGE: 'wpp-status-hello', VERSION: '1.0.0', PHASE: 'UNSPECIFIED_PHASE', ACTIVE: 'True', REASON: 'Loaded' });
  t.like(rows.get('tampered'), { ACTIVE: 'False', REASON: 'IntegrityMismatch' });
  t.like(rows.get('crashes'), { ACTIVE: 'False', REASON: 'ImportFailed' });
  t.like(rows.get('nowhere'), { ACTIVE: 'False', REASON: 'TargetNotFound' });
  t.log(run(['get', 'waypointplugin', '-n', NS]));
});

test.serial('a plugin that throws on live traffic fails the request closed, and its status says why', async (t) => {
  const thrower = npmPack('wpp-status-thrower', '1.0.0', `export default class Thrower { constructor() { this.name = 'thrower'; } onRequest() { throw new Error('upstream quota exceeded'); } }\n`);
  run(['apply', '-f', '-'], pluginYaml('thrower', { targetRefs: [waypointRef], phase: 'AUTHN', package: { name: 'wpp-status-thrower', version: '1.0.0', tarball: thrower.tarball, integrity: thrower.integrity } }));
  await active('thrower', (c) => c.reason === 'Loaded', 'thrower Loaded');
  const res = await get(`${httpUrl}/`, `web.${NS}.svc.cluster.local`);
  t.is(res.status, 503);
  t.is(res.body, `plugin ${NS}/thrower failed`);
  const degraded = await active('thrower', (c) => c.reason === 'Degraded', 'thrower Degraded');
  t.like(degraded.c, { status: 'True', message: `waypoint ${NS}/waypoint: onRequest failed: upstream quota exceeded (1 failures)` });
  t.like(table().get('thrower'), { PHASE: 'AUTHN', ACTIVE: 'True', REASON: 'Degraded' });
  run(['delete', 'waypointplugin', '-n', NS, 'thrower']);
});

test.serial('a new version is reported with its generation; the transition time moves only when the status does', async (t) => {
  const before = await active('hello', (c) => c.status === 'True', 'hello Active=True');
  const v2 = npmPack('wpp-status-hello', '1.1.0', helloSource('2'));
  run(['apply', '-f', '-'], pluginYaml('hello', { targetRefs: [waypointRef], package: { name: 'wpp-status-hello', version: '1.1.0', tarball: v2.tarball, integrity: v2.integrity } }));
  const after = await active('hello', (c) => c.observedGeneration === 2, 'hello at generation 2');
  t.like(after.c, { status: 'True', reason: 'Loaded', message: `waypoint ${NS}/waypoint: wpp-status-hello@1.1.0 active` });
  t.is(after.c.lastTransitionTime, before.c.lastTransitionTime);
  t.like(table().get('hello'), { VERSION: '1.1.0', ACTIVE: 'True', REASON: 'Loaded' });

  // The tampered one, given the right integrity, turns True.
  run(['apply', '-f', '-'], pluginYaml('tampered', { targetRefs: [waypointRef], failStrategy: 'FAIL_OPEN', package: { name: 'wpp-status-hello', version: '1.0.0', tarball: hello.tarball, integrity: hello.integrity } }));
  const fixed = await active('tampered', (c) => c.status === 'True', 'tampered Active=True');
  t.like(fixed.c, { reason: 'Loaded', observedGeneration: 2 });
});
