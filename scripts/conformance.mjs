#!/usr/bin/env node
// `npm run conformance [-- --profile NAME ...]`: the upstream Gateway API conformance suite, at the version
// crds/go.mod pins, against the running local cluster (`npm run cluster:up`), with every setting from
// conformance/options.yaml. Builds the suite and its echo images from the Go module proxy (cached under
// $AMBIT_CACHE), installs Ambit when it is not, runs each profile, reruns known flakes, writes the official
// ConformanceReport to conformance/reports/<version>/ambit-report.yaml and prints per profile
// `N passed, N failed, N skipped`. Exits 1 when a core test of a profile failed (or a profile could not run).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { readMachineLock } from '@ambit/cluster';
import { counts, failedTests, markPassed, mergeReports } from '../conformance/report.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = process.env.AMBIT_CACHE ?? '/var/cache/ambit';
// The running cluster's kubeconfig, from its machine lock (set in main): `cluster:up` and `demo --keep` alike.
let kubeconfig = join(repo, '.ambit', 'kubeconfig');
const logDir = join(repo, '.ambit', 'conformance');
const goEnv = {
  ...process.env,
  GOTOOLCHAIN: 'local',
  GOFLAGS: '-mod=readonly',
  CGO_ENABLED: '0',
  GOMODCACHE: join(cache, 'go', 'mod'),
  GOCACHE: join(cache, 'go', 'build'),
};

const stamp = () => new Date().toISOString().slice(11, 19);
const say = (line) => console.log(`${stamp()} ${line}`);

/** Runs a command; resolves { code, stdout, stderr }. `log` gets every line of output as it comes. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repo, env: opts.env ?? { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const onLines = (chunk) => {
      if (!opts.log) return;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const l of lines) opts.log(l);
    };
    child.stdout.on('data', (b) => ((stdout += b), onLines(b.toString())));
    child.stderr.on('data', (b) => ((stderr += b), onLines(b.toString())));
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr + e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
  return r.stdout;
}

function gatewayApiVersion() {
  const pinned = (file, mod) => new RegExp(`^\\s*(?:require\\s+)?${mod.replaceAll('.', '\\.')}\\s+(v\\S+)`, 'm').exec(readFileSync(join(repo, file), 'utf8'))?.[1];
  const crds = pinned('crds/go.mod', 'sigs.k8s.io/gateway-api');
  const suite = pinned('conformance/go.mod', 'sigs.k8s.io/gateway-api/conformance');
  if (!crds || crds !== suite) throw new Error(`conformance/go.mod pins the suite at ${suite}, crds/go.mod the CRDs at ${crds}: they must agree`);
  return crds;
}

/** `go test -c` of the upstream package, cached by the wrapper module's go.mod and go.sum. */
async function buildSuite() {
  const key = createHash('sha256')
    .update(readFileSync(join(repo, 'conformance/go.mod')))
    .update(readFileSync(join(repo, 'conformance/go.sum')))
    .digest('hex')
    .slice(0, 12);
  const bin = join(cache, 'conformance', `suite-${key}`, 'conformance.test');
  if (!existsSync(bin)) {
    await mkdir(dirname(bin), { recursive: true });
    await runOk('go', ['test', '-c', '-trimpath', '-o', `${bin}.tmp`, 'sigs.k8s.io/gateway-api/conformance'], { cwd: join(repo, 'conformance'), env: goEnv });
    await runOk('mv', [`${bin}.tmp`, bin]);
  }
  return bin;
}

async function loadImages() {
  const archives = (await runOk('bash', [join(repo, 'conformance/images.sh')], { env: goEnv })).trim().split('\n').filter(Boolean);
  await runOk(process.execPath, [join(repo, 'test/cluster/dist/src/cli.js'), 'load', ...archives]);
  return archives.length;
}

const kubectl = (args, input) => run('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, input });
const ambit = (args) => runOk(process.execPath, [join(repo, 'controller/bin/ambit.js'), ...args]);

async function ensureAmbit() {
  if ((await kubectl(['-n', 'istio-system', 'get', 'deployment', 'istiod', '-o', 'name'])).code === 0) return false;
  await ambit(['install']);
  return true;
}

/**
 * What the suite's own Setup cannot do: the profile's waypoints (and the label that makes their namespace use
 * them), and the namespaces kept out of the mesh. The suite replaces the labels of the Namespaces it applies, so
 * a keeper puts them back while it runs. Returns the keeper's stop function.
 */
/**
 * The suite deletes its namespaces when a run ends; a run that starts while they are still terminating fails at
 * once ("unable to create new content in namespace ... because it is being terminated"). Waits for them to go.
 */
async function suiteNamespacesGone() {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const r = await kubectl(['get', 'namespaces', '-o', 'jsonpath={range .items[?(@.status.phase=="Terminating")]}{.metadata.name}{"\\n"}{end}']);
    const left = r.stdout.split('\n').filter((n) => n.startsWith('gateway-conformance'));
    if (r.code === 0 && left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`the suite's namespaces are still terminating after 300 s: ${left.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function prepareProfile(profile) {
  for (const w of profile.waypoints ?? []) {
    if ((await kubectl(['get', 'namespace', w.namespace, '-o', 'name'])).code !== 0) await runOk('kubectl', ['create', 'namespace', w.namespace]);
    await runOk('kubectl', ['label', 'namespace', w.namespace, '--overwrite', 'istio.io/dataplane-mode=ambient']);
    await ambit(['waypoint', 'apply', '-n', w.namespace, '--name', w.name, '--enroll-namespace', '--overwrite', '--wait', '--waypoint-timeout', '180s']);
  }
  const wanted = [
    ...(profile.waypoints ?? []).map((w) => ({ ns: w.namespace, label: 'istio.io/use-waypoint', value: w.name })),
    ...(profile.outOfMesh ?? []).map((ns) => ({ ns, label: 'istio.io/dataplane-mode', value: undefined })),
  ];
  let stopped = false;
  const keep = async () => {
    while (!stopped) {
      const r = await kubectl(['get', 'namespaces', '-o', 'json']);
      if (r.code === 0) {
        const labels = new Map(JSON.parse(r.stdout).items.map((n) => [n.metadata.name, n.metadata.labels ?? {}]));
        for (const w of wanted) {
          const l = labels.get(w.ns);
          if (!l || l[w.label] === w.value) continue;
          await kubectl(['label', 'namespace', w.ns, '--overwrite', w.value === undefined ? `${w.label}-` : `${w.label}=${w.value}`]);
        }
      }
      await new Promise((res) => setTimeout(res, 1000));
    }
  };
  const loop = keep();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** One run of the suite binary; resolves the report it wrote (undefined when it wrote none) and its exit code. */
async function runSuite(bin, name, options, { runTest, timeout, log }) {
  await mkdir(logDir, { recursive: true });
  const tag = runTest ? `${name}-${runTest}` : name;
  const reportPath = join(logDir, `${tag}.report.yaml`);
  const optionsPath = join(logDir, `${tag}.options.yaml`);
  await rm(reportPath, { force: true });
  await writeFile(optionsPath, stringify({ ...options, conformanceProfiles: [name], reportOutputPath: reportPath, ...(runTest ? { runTest } : {}) }));
  const out = createWriteStream(join(logDir, `${tag}.log`));
  const ran = { passed: 0, failed: 0 };
  const args = ['-test.v', `-test.timeout=${timeout}`, '-test.run=^TestConformance$', `-conformance-options-file=${optionsPath}`];
  say(`${bin} ${args.join(' ')}`);
  const r = await run(bin, args, {
    cwd: logDir,
    log: (l) => {
      out.write(l + '\n');
      // Each test's outcome (a test outside the profile's features is skipped: not worth a line).
      const m = /^\s*--- (PASS|FAIL): TestConformance\/(\w+) \(([\d.]+)s\)/.exec(l);
      if (m) log(`${m[1]} ${m[2]} (${m[3]}s)`);
      if (m) ran[m[1] === 'PASS' ? 'passed' : 'failed'] += 1;
    },
  });
  await new Promise((res) => out.end(res));
  const report = existsSync(reportPath) ? parse(await readFile(reportPath, 'utf8')) : undefined;
  return { code: r.code, report, ran, logFile: join(logDir, `${tag}.log`) };
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('npm run conformance needs root (buildah, loading images into the nodes)');
  const lock = await readMachineLock();
  if (lock?.kubeconfigPath) kubeconfig = lock.kubeconfigPath;
  if (!existsSync(kubeconfig) || !lock) throw new Error('no local cluster: start it with npm run cluster:up');
  // The cluster's own kubectl, for this script and the ambit CLI.
  process.env.PATH = `${lock.binDir}:${process.env.PATH}`;
  const argv = process.argv.slice(2);
  const config = parse(readFileSync(join(repo, 'conformance/options.yaml'), 'utf8'));
  const wanted = argv.flatMap((a, i) => (a === '--profile' ? [argv[i + 1]] : a.startsWith('--profile=') ? [a.slice(10)] : []));
  const names = wanted.length ? wanted : Object.keys(config.profiles);
  for (const n of names) if (!config.profiles[n]) throw new Error(`no profile ${n} in conformance/options.yaml (${Object.keys(config.profiles).join(', ')})`);
  const version = gatewayApiVersion();
  const t0 = Date.now();
  const secs = (since) => `${((Date.now() - since) / 1000).toFixed(0)}s`;

  let t = Date.now();
  const bin = await buildSuite();
  say(`suite ${version}: ${bin} (${secs(t)})`);
  t = Date.now();
  say(`echo images: ${await loadImages()} loaded into the nodes (${secs(t)})`);
  t = Date.now();
  if (await ensureAmbit()) say(`ambit install (${secs(t)})`);

  const reports = [];
  const lines = [];
  let failed = false;
  for (const name of names) {
    const profile = config.profiles[name];
    const options = { ...config.suite, ...profile.suite };
    t = Date.now();
    say(`${name}: preparing`);
    await suiteNamespacesGone();
    const stopKeeper = await prepareProfile(profile);
    let res;
    try {
      res = await runSuite(bin, name, options, { timeout: config.timeouts.profile, log: (l) => say(`${name}: ${l}`) });
      const report = res.report;
      const entry = report?.profiles?.find((p) => p.name === name);
      // Known flakes: run each failed one again on its own; its last result counts.
      for (const test of entry ? failedTests(entry).filter((f) => config.flakes.tests.includes(f)) : []) {
        for (let i = 1; i <= config.flakes.reruns; i++) {
          say(`${name}: ${test} is a known flake: rerun ${i}/${config.flakes.reruns}`);
          await suiteNamespacesGone();
          const again = await runSuite(bin, name, options, { runTest: test, timeout: config.timeouts.rerun, log: (l) => say(`${name}: ${l}`) });
          const rerun = again.report?.profiles?.find((p) => p.name === name);
          if (again.code === 0 && rerun && !failedTests(rerun).includes(test)) {
            markPassed(entry, test);
            break;
          }
        }
      }
    } finally {
      await stopKeeper();
    }
    const entry = res.report?.profiles?.find((p) => p.name === name);
    if (!entry) {
      failed = true;
      // The suite's own words on why (testify's "Messages:" line, else its first "Error:" line).
      const log = readFileSync(res.logFile, 'utf8');
      const why = (/Messages:\s+(.+)/.exec(log) ?? /Error:\s+(.+)/.exec(log))?.[1]?.trim();
      lines.push(`${name}: the suite wrote no result (exit ${res.code})${why ? `: ${why}` : ''}; see ${res.logFile}`);
      continue;
    }
    reports.push({ ...res.report, profiles: [entry] });
    const c = counts(entry);
    if (c.coreFailed) failed = true;
    // A run that fails before any test (Setup: GatewayClass not accepted, Gateways never programmed) counts no test.
    const setupFailed = res.code !== 0 && c.passed + c.failed === 0;
    if (setupFailed) failed = true;
    const failures = failedTests(entry);
    // The report counts the tests of the profile's own features; the suite also runs those that need the
    // other features options.yaml claims.
    lines.push(
      `${name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped (${secs(t)}; core ${entry.core.result}` +
        `${entry.extended ? `, extended ${entry.extended.result}` : ''}; tests run: ${res.ran.passed} passed, ${res.ran.failed} failed)` +
        (failures.length ? `\n  failed: ${failures.join(', ')}` : '') +
        (setupFailed ? `\n  the suite stopped before its tests (exit ${res.code}); see ${res.logFile}` : ''),
    );
  }
  if (reports.length) {
    const out = join(repo, 'conformance', 'reports', version, 'ambit-report.yaml');
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, stringify(mergeReports(reports)));
    lines.push(`report: ${out}`);
  }
  console.log(`\n${lines.join('\n')}\ntotal ${secs(t0)}; logs in ${logDir}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(`conformance: ${e.message}`);
    process.exitCode = 1;
  },
);
