// System: `npm run cluster:up` / `cluster:down` (test/cluster/dist/src/cli.js): a detached supervisor, the
// kubeconfig in .ambit/, teardown, and `down` after the supervisor died.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildControlPlane, readMachineLock } from '../../src/index.js';
import { run } from '../../src/controlplane/exec.js';
import { isAlive } from '../../src/controlplane/cleanup.js';
import { ambitDir, cliKubeconfig, defaultStateDir, nodeBinary, packageRoot, supervisorPidFile } from '../../src/controlplane/paths.js';
import { baseline, leftovers, noLeftovers, type Baseline } from './helpers.js';
import { writeOciArchive } from './oci.js';
import { buildNodeBinaries } from '../../src/realnode/build.js';

const cli = join(packageRoot, 'dist', 'src', 'cli.js');
let binDir: string;
let before: Baseline;

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(nodeBinary, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

// `down` stops whatever local cluster runs: never run these next to a cluster someone else started. Then each test
// fails, saying why, without touching that cluster: a system test that did not run is never a pass or a skip.
const running = await readMachineLock();
const busy = running && isAlive(running.pid) ? `a local cluster already runs (pid ${running.pid}, state ${running.stateDir})` : '';
function serial(title: string, impl: (t: ExecutionContext) => Promise<void>): void {
  if (busy) test.serial(title, (t) => t.fail(`not run: ${busy}; stop it (npm run cluster:down) and run again`));
  else test.serial(title, impl);
}

const kubectl = (args: string[]) => run(join(binDir, 'kubectl'), ['--kubeconfig', cliKubeconfig, ...args], { timeoutMs: 30_000 });
const nodes = '1';

test.before(async () => {
  binDir = await buildControlPlane();
  before = await baseline(binDir);
});

test.after.always(async () => {
  if (busy) return;
  if (existsSync(supervisorPidFile) || existsSync(defaultStateDir)) await runCli(['down']);
});

serial('up starts a detached cluster, writes .ambit/kubeconfig and says how to use it', async (t) => {
  const started = Date.now();
  const up = await runCli(['up', '--nodes', nodes]);
  t.log(`cluster:up took ${((Date.now() - started) / 1000).toFixed(1)}s`);
  t.is(up.code, 0, up.stderr + up.stdout);
  t.true(up.stdout.includes(`export KUBECONFIG=${cliKubeconfig}`), up.stdout);
  t.is((await stat(cliKubeconfig)).mode & 0o777, 0o600);
  t.true(cliKubeconfig.startsWith(ambitDir));
  // The CLI has exited; the cluster still answers.
  const ns = await kubectl(['get', 'namespace', 'default', '-o', 'name']);
  t.is(ns.stdout.trim(), 'namespace/default', ns.stderr);
  const crd = await kubectl(['get', 'crd', 'httproutes.gateway.networking.k8s.io', 'authorizationpolicies.security.istio.io', '-o', 'name']);
  t.is(crd.stdout.trim().split('\n').length, 2, crd.stderr);
  if (nodes === '1') {
    const n = await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}']);
    t.is(n.stdout, 'ambit-node-1');
  }
});

serial('up again reports the running cluster', async (t) => {
  const pid = (await readFile(supervisorPidFile, 'utf8')).trim();
  const again = await runCli(['up']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, new RegExp(`already running \\(supervisor pid ${pid}\\)`));
});

serial('cluster:load puts an image archive into the nodes; a corrupt one is refused with one line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-load-'));
  try {
    // Any static program will do as the image's entrypoint: the node's pause.
    const archive = writeOciArchive(dir, 'example.local/loaded:1', join(await buildNodeBinaries(), 'pause'));
    const load = await runCli(['load', archive]);
    t.is(load.code, 0, load.stderr);
    t.regex(load.stdout, /loaded example\.local\/loaded:1 into ambit-node-1/);
    const pod = await kubectl(['run', 'loaded', '--image=example.local/loaded:1', '--image-pull-policy=Never', '--restart=Never']);
    t.is(pod.code, 0, pod.stderr);
    const ready = await kubectl(['wait', '--for=condition=Ready', 'pod/loaded', '--timeout=25s']);
    t.is(ready.code, 0, ready.stderr);
    await kubectl(['delete', 'pod', 'loaded', '--grace-period=1']);
    const corrupt = join(dir, 'corrupt.tar');
    await writeFile(corrupt, 'not an image'.repeat(100));
    const bad = await runCli(['load', corrupt]);
    t.is(bad.code, 1);
    t.is(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    t.regex(bad.stderr, /corrupt\.tar is not an image archive/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function podNetns(): Promise<Set<string>> {
  const r = await kubectl(['get', 'pods', '-A', '-o', 'jsonpath={.items[*].metadata.uid}']);
  return new Set(r.stdout.split(/\s+/).filter(Boolean).map((uid) => `ambit-${uid}`));
}

serial('down stops the supervisor and removes everything', async (t) => {
  const netns = await podNetns();
  const down = await runCli(['down']);
  t.is(down.code, 0, down.stderr);
  t.regex(down.stdout, /The local cluster is down/);
  t.false(existsSync(cliKubeconfig));
  t.false(existsSync(supervisorPidFile));
  t.deepEqual(await leftovers(binDir, defaultStateDir, before, netns), noLeftovers);
});

serial('down cleans up after a supervisor that died', async (t) => {
  const up = await runCli(['up', '--nodes', nodes]);
  t.is(up.code, 0, up.stderr + up.stdout);
  const netns = await podNetns();
  const pid = Number((await readFile(supervisorPidFile, 'utf8')).trim());
  process.kill(pid, 'SIGKILL');
  const down = await runCli(['down']);
  t.is(down.code, 0, down.stderr);
  t.regex(down.stdout, /Removed leftovers/);
  t.deepEqual(await leftovers(binDir, defaultStateDir, before, netns), noLeftovers);
});
