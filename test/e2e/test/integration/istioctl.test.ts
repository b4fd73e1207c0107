// Istio's own istioctl (built from the Go module proxy by scripts/istioctl.sh, unchanged) against Ambit on the
// local cluster: the read-only commands an Istio user reaches for. A namespace in the mesh with the curl client and
// a namespace waypoint gives ztunnel a workload certificate and istioctl a waypoint to list.
//   istioctl version                     istiod found (app=istiod, istio.io/rev=default), its //version on 15014
//   istioctl ztunnel-config all|certs    ztunnel's /config_dump on 15000 through a port-forward
//   istioctl waypoint list|status        Gateways of class istio-waypoint and their status
//   istioctl analyze, x precheck         the cluster's objects
//   istioctl proxy-status                xDS (gRPC ADS) on istiod's 15012: Ambit does not speak it; documented
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { openMeshCluster, type ShellResult, type TestCluster } from '@ambit/cluster';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const NS = 'istioctl-it';
let mesh: TestCluster | undefined;
const sh = (command: string) => mesh!.sh(command);

/** An istioctl command: its exit code and output, logged for the report. */
async function istioctl(args: string, t: { log: (...a: unknown[]) => void }): Promise<ShellResult> {
  const r = await mesh!.shell.run(`istioctl ${args}`, { timeoutMs: 120_000 });
  t.log(`$ istioctl ${args}  (exit ${r.code})\n${r.stdout}${r.stderr}`);
  return r;
}

test.before(async () => {
  // The binary first (a few minutes the first time on 2 cores, cached afterwards): its last line is its path.
  const istioctlPath = execFileSync('bash', [join(repo, 'scripts/istioctl.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!;
  mesh = await openMeshCluster({ pathPrepend: [dirname(istioctlPath)], namespaces: [NS], commandTimeoutMs: 240_000 });
  await sh('kubectl rollout status deployment/istiod -n istio-system --timeout=180s');
  await sh('kubectl rollout status daemonset/ztunnel -n istio-system --timeout=180s');
  await sh(`kubectl create namespace ${NS} && kubectl label namespace ${NS} istio.io/dataplane-mode=ambient`);
  await sh(`kubectl apply -n ${NS} -f samples/manifests/sleep.yaml`);
  await sh(`kubectl wait --for=condition=Ready pods --all -n ${NS} --timeout=240s`);
  await sh(`ambit waypoint apply -n ${NS} --enroll-namespace --wait`);
});

test.after.always(async () => {
  await mesh?.close();
});

test.serial('istioctl version: the client and the control plane', async (t) => {
  const r = await istioctl('version', t);
  t.is(r.code, 0);
  t.regex(r.stdout, /^client version: 1\.31/m);
  t.regex(r.stdout, /^control plane version: \d+\.\d+\.\d+$/m, 'the control plane line, with Ambit\'s version');
  t.notRegex(r.stdout + r.stderr, /Istio is not present in the cluster/);
  const json = await istioctl('version -o json', t);
  t.is(json.code, 0);
  const v = JSON.parse(json.stdout) as { meshVersion?: { Component: string; Revision: string; Info: { version: string } }[] };
  t.is(v.meshVersion?.[0]?.Component, 'pilot');
  t.is(v.meshVersion?.[0]?.Revision, 'default');
});

test.serial('istioctl ztunnel-config all and certificates read a ztunnel\'s config dump', async (t) => {
  const node = (await sh(`kubectl get pods -n ${NS} -l app=sleep -o jsonpath={.items[0].spec.nodeName}`)).trim();
  const ztunnel = (await sh(`kubectl get pods -n istio-system -l app=ztunnel --field-selector spec.nodeName=${node} -o jsonpath={.items[0].metadata.name}`)).trim();
  t.truthy(ztunnel);

  const identity = `spiffe://cluster.local/ns/${NS}/sa/sleep`;
  const all = await istioctl(`ztunnel-config all ${ztunnel}.istio-system --with-headers`, t);
  t.is(all.code, 0);
  for (const header of ['WORKLOAD INFO', 'SERVICE INFO', 'POLICY INFO', 'SECRET INFO', 'CONNECTIONS INFO']) t.true(all.stdout.includes(`------ ${header} ------`), header);
  t.regex(all.stdout, new RegExp(`^${NS}\\s+sleep-\\S+\\s+\\S+\\s+${node}\\s+\\S+\\s+HBONE$`, 'm'), 'the sleep pod, captured');
  t.regex(all.stdout, new RegExp(`^${NS}\\s+sleep\\s+\\S+\\s+waypoint\\s+\\d+/\\d+$`, 'm'), 'the sleep Service, behind its waypoint');
  t.regex(all.stdout, new RegExp(`^${identity}\\s+Leaf\\s+Available\\s+true\\s`, 'm'), 'the secrets section');

  const certs = await istioctl(`ztunnel-config certificates ${ztunnel}.istio-system`, t);
  t.is(certs.code, 0);
  t.regex(certs.stdout, /^CERTIFICATE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE/m);
  const row = (type: string) => certs.stdout.split('\n').find((l) => l.startsWith(identity) && l.split(/\s+/)[1] === type);
  t.regex(row('Leaf') ?? '', /\sAvailable\s+true\s+[0-9a-f]+\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z$/, 'a valid leaf, hex serial, RFC 3339 times');
  t.regex(row('Root') ?? '', /\sAvailable\s+true\s/, 'the root apart from the chain');
  t.falsy(row('Intermediate'), 'the root is not repeated inside the chain');

  // Without a pod name and with two nodes istioctl asks for one, as it does against Istio.
  const any = await istioctl('ztunnel-config certificates', t);
  if (any.code !== 0) t.regex(any.stderr, /ztunnel pod name or --node must be set/);
  const byNode = await istioctl(`ztunnel-config certificates --node ${node}`, t);
  t.is(byNode.code, 0);
  t.true(byNode.stdout.includes(identity));
});

test.serial('istioctl waypoint list and status', async (t) => {
  const list = await istioctl(`waypoint list -n ${NS}`, t);
  t.is(list.code, 0);
  t.regex(list.stdout, /^NAME\s+REVISION\s+TRAFFIC TYPE\s+PROGRAMMED/m);
  // istioctl prints `none` for a Gateway without istio.io/waypoint-for (which the mesh treats as `service`), as
  // against Istio: `ambit waypoint apply` without --for sets no label, as istioctl's does.
  t.regex(list.stdout, /^waypoint\s+\S+\s+none\s+True/m);
  const status = await istioctl(`waypoint status -n ${NS}`, t);
  t.is(status.code, 0);
  t.regex(status.stdout, /^waypoint\s+True\s+Programmed\s/m);
  // `istioctl x waypoint` left the experimental group when waypoints went beta (Istio 1.22): not Ambit's to serve.
  const x = await istioctl(`x waypoint list -n ${NS}`, t);
  t.false(x.code === 0 && /^NAME\s+REVISION/m.test(x.stdout), 'istioctl x has no waypoint command');
});

test.serial('istioctl analyze and x precheck find nothing wrong', async (t) => {
  const analyze = await istioctl(`analyze -n ${NS}`, t);
  t.is(analyze.code, 0);
  t.notRegex(analyze.stdout + analyze.stderr, /^Error \[/m);
  const precheck = await istioctl('x precheck', t);
  t.is(precheck.code, 0);
  t.regex(precheck.stdout + precheck.stderr, /No issues found when checking the cluster/);
});

test.serial('istioctl proxy-status: istiod\'s xDS debug over gRPC on 15012, which Ambit does not serve', async (t) => {
  // istioctl port-forwards to istiod's 15012 and opens an ADS stream (gRPC, envoy.service.discovery.v3) asking for
  // istio.io/debug/syncz. Ambit's 15012 carries its own config stream (NDJSON over HTTP/2), so the stream fails.
  const ps = await istioctl('proxy-status', t);
  t.not(ps.code, 0, 'documented as not supported (README, "istioctl")');
  t.true((ps.stderr + ps.stdout).trim().length > 0, 'it says why rather than printing an empty table');
});
