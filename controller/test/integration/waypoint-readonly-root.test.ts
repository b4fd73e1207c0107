// A waypoint pod as a kubelet runs it: read-only root file system, uid/gid from the rendered securityContext, HOME=/
// (what runc gives a uid without a passwd entry), an empty tmpfs at each emptyDir mount, the rendered env. In that
// sandbox (a private mount and network namespace, chroot into a read-only tmpfs root that binds the host's /usr,
// /etc and this repository read-only) the WaypointPlugin loader installs a plugin package whose dependency npm has
// to install (locked with its integrity by the package's npm-shrinkwrap.json, as the loader requires). Without the
// npm cache env the same install fails: the sandbox is strict enough to tell.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderWaypoint, type Gateway } from '../../src/gateway/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

interface Container {
  env: Array<{ name: string; value?: string }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
  securityContext: { readOnlyRootFilesystem?: boolean; runAsUser?: number; runAsGroup?: number };
}
interface PodSpec {
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: object }>;
}

const gw: Gateway = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'waypoint', namespace: 'default', uid: 'u1' },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
};
const spec = (renderWaypoint(gw, { version: '0.1.0' }).deployment.spec as { template: { spec: PodSpec } }).template.spec;
const container = spec.containers[0]!;
const emptyDirs = new Set(spec.volumes.filter((v) => v.emptyDir).map((v) => v.name));
const writableMounts = container.volumeMounts.filter((m) => emptyDirs.has(m.name)).map((m) => m.mountPath);
const renderedEnv = container.env.filter((e) => e.value !== undefined).map((e) => `${e.name}=${e.value}`);

/** The files the sandbox sees at /fixtures: a plugin tarball depending on another, and the script that loads it. */
function fixtures(dir: string): void {
  const pkg = (name: string, manifest: object, files: Record<string, string>) => {
    const d = join(dir, 'src', name, 'package');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js', ...manifest }));
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    execFileSync('tar', ['-czf', join(dir, `${name}.tgz`), '-C', join(dir, 'src', name), 'package']);
  };
  const sri = (file: string) => `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
  pkg('ro-dep', {}, { 'index.js': 'export const answer = 42;\n' });
  const dep = { 'ro-dep': 'file:/fixtures/ro-dep.tgz' };
  const shrinkwrap = {
    name: 'ro-plugin',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: 'ro-plugin', version: '1.0.0', dependencies: dep }, 'node_modules/ro-dep': { version: '1.0.0', resolved: 'file:/fixtures/ro-dep.tgz', integrity: sri(join(dir, 'ro-dep.tgz')) } },
  };
  pkg('ro-plugin', { dependencies: dep }, {
    'index.js': "import { answer } from 'ro-dep';\nexport const depAnswer = answer;\nexport default class P { onRequest() {} }\n",
    'npm-shrinkwrap.json': JSON.stringify(shrinkwrap),
  });
  const integrity = sri(join(dir, 'ro-plugin.tgz'));
  const loader = import.meta.resolve('@ambit/plugins');
  writeFileSync(
    join(dir, 'run.mjs'),
    `import { readdirSync } from 'node:fs';
const { PackageLoader } = await import(${JSON.stringify(loader)});
const loader = new PackageLoader({ root: process.env.AMBIT_PLUGINS_DIR });
try {
  const p = await loader.load({ name: 'ro-plugin', version: '1.0.0', tarball: '/fixtures/ro-plugin.tgz', integrity: ${JSON.stringify(integrity)} });
  console.log(JSON.stringify({ loaded: p.dir, depAnswer: p.module.depAnswer, uid: process.getuid(), cache: readdirSync(process.env.npm_config_cache).sort() }));
} catch (err) {
  console.log(JSON.stringify({ error: err.reason ?? 'unknown', message: err.message.split('\\n')[0] }));
}
`,
  );
}

// Builds the root (tmpfs, then read-only), binds what the image would hold, mounts the emptyDirs, runs the script.
const SANDBOX = `
set -eu
root=$1; fixtures=$2; repo=$3; uid=$4; gid=$5; shift 5
mount -t tmpfs -o mode=755 ambit-ro-root "$root"
# The emptyDirs first: the repository (Node, the code) may live under one of them (a checkout in /tmp) and is bound
# on top of it below, rather than hidden by it.
while [ "$1" != "--" ]; do mkdir -p "$root$1"; mount -t tmpfs -o mode=1777 ambit-ro-emptydir "$root$1"; shift; done
shift
for d in /usr /etc "$repo" "$fixtures:/fixtures"; do
  src=\${d%%:*}; dst=\${d#*:}; [ "$dst" = "$d" ] && dst=$src
  mkdir -p "$root$dst"; mount --rbind "$src" "$root$dst"; mount -o remount,bind,ro "$root$dst"
done
for l in bin lib lib64 sbin; do [ -L /$l ] && ln -s "$(readlink /$l)" "$root/$l"; done
mkdir -p "$root/dev" "$root/proc"; mount --rbind /dev "$root/dev"; mount --rbind /proc "$root/proc"
mount -o remount,ro "$root"
exec chroot "$root" setpriv --reuid "$uid" --regid "$gid" --clear-groups env -i "$@"
`;

function runSandbox(env: string[]): { status: number | null; stdout: string; stderr: string } {
  const work = mkdtempSync(join(tmpdir(), 'ambit-ro-root-'));
  try {
    mkdirSync(join(work, 'root'));
    mkdirSync(join(work, 'fixtures'));
    fixtures(join(work, 'fixtures'));
    const sc = container.securityContext;
    const path = `PATH=${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', '--net', 'sh', '-c', SANDBOX, 'sandbox', join(work, 'root'), join(work, 'fixtures'), repo, String(sc.runAsUser), String(sc.runAsGroup), ...writableMounts, '--', path, 'HOME=/', ...env, process.execPath, '/fixtures/run.mjs'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const isRoot = process.getuid?.() === 0;

test('rendered waypoint: the plugin loader installs a package and its npm dependency under a read-only root', (t) => {
  if (!isRoot) return t.fail('needs root (mount namespace, chroot)');
  t.true(container.securityContext.readOnlyRootFilesystem);
  t.true(spawnSync('npm', ['--version']).status === 0, 'npm is on this machine (the waypoint image ships it too)');
  const r = runSandbox(renderedEnv);
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { loaded?: string; depAnswer?: number; uid?: number; cache?: string[]; error?: string; message?: string };
  t.is(out.error, undefined, out.message);
  t.is(out.depAnswer, 42);
  t.is(out.uid, container.securityContext.runAsUser);
  t.regex(out.loaded ?? '', /^\/var\/lib\/ambit\/plugins\/ro-plugin@1\.0\.0-/);
  t.true(out.cache?.includes('_cacache'), 'npm used the cache emptyDir');
});

test('the same sandbox without the npm cache env: npm cannot install (the check above is not vacuous)', (t) => {
  if (!isRoot) return t.fail('needs root (mount namespace, chroot)');
  const r = runSandbox(renderedEnv.filter((e) => !e.startsWith('npm_config_cache=')));
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { error?: string; message?: string };
  t.is(out.error, 'InstallFailed');
  t.regex(out.message ?? '', /^npm ci of ro-dep failed/);
});
