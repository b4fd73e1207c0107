// The integration tests' environment (test/integration/env.ts) looks for the Kubernetes binaries and the CRDs under
// AMBIT_CACHE, as @ambit/cluster does, and, when they are not there, refuses with one line naming what is missing
// (the tests then fail: never a pass). Checked here, in the unit phase, on fake caches: nothing is started.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const envModule = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'integration', 'env.js')).href;

/** What env.ts finds with AMBIT_CACHE=cache, in a fresh process (the cache root is read once, at import). */
function probe(cache: string, start: boolean): { binDir?: string; gatewayCrdDir?: string; istio: string; start?: string } {
  const script = `
    const env = await import(${JSON.stringify(envModule)});
    let istio; try { istio = env.istioCrdFile(); } catch (e) { istio = 'error: ' + e.message; }
    let start;
    // Only where no binaries are found, so that it can only refuse: this unit test never starts a control plane.
    if (${start} && env.binDir() === undefined) await env.startPrivateControlPlane().then((c) => c.stop(), (e) => { start = 'error: ' + e.message; });
    else if (${start}) start = 'not tried: binaries found at ' + env.binDir();
    console.log(JSON.stringify({ binDir: env.binDir(), gatewayCrdDir: env.gatewayCrdDir(), istio, start }));`;
  const env: NodeJS.ProcessEnv = { ...process.env, AMBIT_CACHE: cache };
  delete env.AMBIT_K8S_BIN;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof probe>;
}

test('an empty AMBIT_CACHE: no binaries, no CRDs, and the private control plane refuses with one line', (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'ambit-empty-cache-'));
  t.teardown(() => rmSync(cache, { recursive: true, force: true }));
  const got = probe(cache, true);
  t.is(got.binDir, undefined);
  t.is(got.gatewayCrdDir, undefined);
  t.is(got.istio, `error: istio.io/api not found in the Go module cache ${cache}/go/mod (AMBIT_CACHE=${cache})`);
  t.is(got.start, `error: Kubernetes binaries not found: no ${cache}/bin/k8s-*/kube-apiserver (AMBIT_CACHE=${cache}); build them with bash test/k8s/build.sh or set AMBIT_K8S_BIN`);
});

test('the binaries and CRDs are looked for under AMBIT_CACHE, not a fixed path', (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'ambit-cache-'));
  t.teardown(() => rmSync(cache, { recursive: true, force: true }));
  mkdirSync(join(cache, 'bin', 'k8s-test'), { recursive: true });
  writeFileSync(join(cache, 'bin', 'k8s-test', 'kube-apiserver'), '');
  const istio = join(cache, 'go', 'mod', 'istio.io', 'api@v1.0.0', 'kubernetes');
  mkdirSync(istio, { recursive: true });
  mkdirSync(join(cache, 'go', 'mod', 'sigs.k8s.io', 'gateway-api@v1.0.0', 'config', 'crd', 'standard'), { recursive: true });
  const got = probe(cache, false); // the binaries are fakes: nothing may start them
  t.is(got.binDir, join(cache, 'bin', 'k8s-test'));
  t.is(got.gatewayCrdDir, join(cache, 'go', 'mod', 'sigs.k8s.io', 'gateway-api@v1.0.0', 'config', 'crd', 'standard'));
  t.is(got.istio, join(istio, 'customresourcedefinitions.gen.yaml'));
});
