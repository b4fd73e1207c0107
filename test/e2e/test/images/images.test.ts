// The OCI archives `npm run images` writes are real images: one per image the manifests, the rendered waypoint and
// the tests ask for, each under the name containerd's CRI looks it up by, with the entrypoint the local cluster
// runs for it, non-root except ztunnel, its entrypoint's file inside its layers (the Prometheus add-on's image: the
// prometheus binary built from its Go module, which runs from the image's own root), and a Node base that runs.
// AMBIT_IMAGES_DIR is the directory `npm run images` prints last; without it (or without an archive) this fails.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '@ambit/controller';
import { REVIEWS_ENV, renderedWaypointImages } from '../expected-images.js';
import { readOciArchive, type OciImage } from '../../src/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const read = (p: string) => readFileSync(join(repo, p), 'utf8');
const dir = process.env.AMBIT_IMAGES_DIR;

interface Built {
  ref: string;
  name: string;
  archive: string;
  sizeBytes: number;
  unpackedBytes: number;
  target: string;
}

/** images.json of AMBIT_IMAGES_DIR, or the one-line reason it cannot be read. */
function manifest(): Built[] | string {
  if (!dir) return 'AMBIT_IMAGES_DIR is unset: run `npm run images` and set AMBIT_IMAGES_DIR to the directory it prints last';
  const file = join(dir, 'images.json');
  if (!existsSync(file)) return `${file} is missing: AMBIT_IMAGES_DIR must be the directory \`npm run images\` prints last`;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Built[];
  } catch (e) {
    return `${file} is not JSON (${(e as Error).message}): run \`npm run images\` again`;
  }
}
const built = manifest();

/** The name containerd's CRI resolves a manifest's image to (what `ctr images import --index-name` must use). */
function normalized(ref: string): string {
  const first = ref.split('/')[0]!;
  if (!ref.includes('/')) return `docker.io/library/${ref}`;
  return first.includes('.') || first.includes(':') || first === 'localhost' ? ref : `docker.io/${ref}`;
}

const refsIn = (file: string) => [...read(file).matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!);
const waypointRef = renderedWaypointImages()[0]!;

/** Every image something in the repository runs, from where it is asked for (not from the build script). */
const wanted = [
  ...new Set([
    ...refsIn('controller/manifests/20-controller.yaml'),
    ...refsIn('controller/manifests/ztunnel.yaml'),
    waypointRef,
    ...refsIn('samples/manifests/bookinfo.yaml'),
    ...refsIn('samples/manifests/sleep.yaml'),
    ...refsIn('samples/manifests/notsleep.yaml'),
    `ambit/test-tools:${VERSION}`,
    ...refsIn('samples/addons/prometheus.yaml'),
  ]),
];

interface Expected {
  image: string;
  env?: Record<string, string>;
  run: { kind: 'node' | 'command'; script?: string; entrypoint?: string[] };
}
/** What each image must run: its compiled main script (or command), and the ENV upstream's image of it carries. */
const table: Expected[] = [
  { image: 'curlimages/curl', run: { kind: 'command', entrypoint: ['curl'] } },
  { image: 'ambit/controller', run: { kind: 'node', script: 'controller/dist/src/main.js' } },
  { image: 'ambit/ztunnel', run: { kind: 'node', script: 'ztunnel-runtime/dist/src/main.js' } },
  { image: 'ambit/waypoint', run: { kind: 'node', script: 'waypoint-runtime/dist/src/main.js' } },
  { image: '*/examples-bookinfo-productpage-v*', run: { kind: 'node', script: 'samples/dist/src/bookinfo/productpage.js' } },
  { image: '*/examples-bookinfo-details-v*', run: { kind: 'node', script: 'samples/dist/src/bookinfo/details.js' } },
  { image: '*/examples-bookinfo-ratings-v*', run: { kind: 'node', script: 'samples/dist/src/bookinfo/ratings.js' } },
  { image: '*/examples-bookinfo-reviews-v1', env: REVIEWS_ENV.v1, run: { kind: 'node', script: 'samples/dist/src/bookinfo/reviews.js' } },
  { image: '*/examples-bookinfo-reviews-v2', env: REVIEWS_ENV.v2, run: { kind: 'node', script: 'samples/dist/src/bookinfo/reviews.js' } },
  { image: '*/examples-bookinfo-reviews-v3', env: REVIEWS_ENV.v3, run: { kind: 'node', script: 'samples/dist/src/bookinfo/reviews.js' } },
];
const glob = (g: string) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
function localEntry(ref: string): Expected | undefined {
  const name = ref.replace(/[:@][^/]*$/, '').replace(/^docker\.io\/(library\/)?/, '');
  return table.find((e) => glob(e.image).test(name));
}

const env = (img: OciImage) => new Map((img.config.config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

/** Whether a path (relative to /) is a file in the image's layers, top layer first (a whiteout hides it). */
function hasFile(img: OciImage, path: string): boolean {
  const dirOf = path.slice(0, path.lastIndexOf('/'));
  const base = path.slice(path.lastIndexOf('/') + 1);
  for (const layer of [...img.manifest.layers].reverse()) {
    const entries = img.layer(layer.digest);
    if (entries.some((e) => e.path === `${dirOf}/.wh.${base}` || e.path === `${dirOf}/.wh..wh..opq`)) return false;
    if (entries.some((e) => e.path === path && (e.type === '0' || e.type === '1' || e.type === '2'))) return true;
  }
  return false;
}

test('AMBIT_IMAGES_DIR holds an archive for every image the manifests, the waypoint and the tests ask for', (t) => {
  if (typeof built === 'string') return t.fail(built);
  const have = new Map(built.map((b) => [b.ref, b]));
  for (const ref of wanted) {
    const b = have.get(ref);
    if (!b) {
      t.fail(`no archive for ${ref} in ${dir}/images.json: run \`npm run images\``);
      continue;
    }
    t.is(b.name, normalized(ref), `${ref}: the name to import it under`);
    t.true(existsSync(b.archive), `${b.archive} exists`);
    if (existsSync(b.archive)) t.is(statSync(b.archive).size, b.sizeBytes, `${b.archive}: the size images.json says`);
    t.true(b.unpackedBytes > b.sizeBytes, `${ref}: unpacked larger than its gzip archive`);
  }
});

for (const ref of wanted) {
  test(`the archive of ${ref} is an OCI image named ${normalized(ref)} with the entrypoint and user it needs`, (t) => {
    if (typeof built === 'string') return t.fail(built);
    const b = built.find((x) => x.ref === ref);
    if (!b) return t.fail(`no archive for ${ref} in ${dir}/images.json: run \`npm run images\``);
    const img = readOciArchive(b.archive);
    t.is(img.refName, normalized(ref));
    t.is(img.config.os, 'linux');
    t.is(img.config.architecture, 'amd64');
    // Every layer the manifest lists is in the archive, at the size it says.
    for (const l of img.manifest.layers) t.is(img.files.get(`blobs/${l.digest.replace(':', '/')}`), l.size, l.digest);
    const cfg = img.config.config;
    const local = localEntry(ref);
    if (ref.startsWith('ambit/test-tools:')) {
      t.deepEqual(cfg.Entrypoint ?? [], []);
      t.deepEqual(cfg.Cmd, ['sh']);
      for (const f of ['usr/bin/sh', 'usr/bin/sleep', 'usr/bin/python3', 'usr/bin/curl', 'usr/bin/nc']) t.true(hasFile(img, f) || hasFile(img, f.replace('usr/', '')), f);
      return;
    }
    if (ref.startsWith('ambit/prometheus:')) {
      // Prometheus from its Go module (test/prometheus/build.sh), its binary the ENTRYPOINT, promtool beside it, run
      // as nobody (the add-on's pods write only to an emptyDir), with a default config for a plain `run`.
      t.deepEqual(cfg.Entrypoint, ['/usr/bin/prometheus']);
      t.deepEqual(cfg.Cmd, ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus']);
      t.is(cfg.User, '65534:65534');
      t.is(cfg.WorkingDir, '/prometheus');
      for (const f of ['usr/bin/prometheus', 'usr/bin/promtool', 'etc/prometheus/prometheus.yml']) t.true(hasFile(img, f), `/${f} is in the image`);
      return;
    }
    t.truthy(local, `an expectation for ${ref}`);
    if (local?.run.kind === 'command') {
      // curlimages/curl: curl as ENTRYPOINT, its upstream non-root uid 100, and the sleep its manifests run.
      t.deepEqual(cfg.Entrypoint, local.run.entrypoint);
      t.is(cfg.User, '100:101');
      t.true(hasFile(img, 'usr/bin/curl'));
      t.true(hasFile(img, 'usr/bin/sleep'));
      return;
    }
    const [node, script = ''] = cfg.Entrypoint ?? [];
    t.is(node, 'node');
    t.is(cfg.WorkingDir, '/app');
    t.is(script, local?.run.script ?? "(no local entry)");
    t.true(hasFile(img, `app/${script}`), `/app/${script} is in the image`);
    t.true(hasFile(img, 'usr/local/bin/node'), 'node is in the image');
    t.is(env(img).get('NODE_ENV'), 'production');
    // Only what runs: no compiled tests or benchmarks, declarations, source maps or tsc build info under /app.
    const extra = img.manifest.layers
      .flatMap((l) => img.layer(l.digest))
      .map((e) => e.path)
      .filter((p) => p.startsWith('app/') && /\/dist\/(test|bench)\/|\.d\.[cm]?ts$|\.map$|\.tsbuildinfo$/.test(p));
    t.deepEqual(extra.slice(0, 5), [], `${extra.length} files /app does not need`);
    for (const [k, v] of Object.entries(local?.env ?? {})) t.is(env(img).get(k), v, `${ref}: ENV ${k}`);
    // Only ztunnel runs as root (setns and iptables in pods' namespaces).
    if (ref.startsWith('ambit/ztunnel:')) t.true(!cfg.User || cfg.User === 'root' || cfg.User === '0', `ztunnel user '${cfg.User}'`);
    else t.is(cfg.User, 'node');
  });
}

/** Unpacks an archive's layers, bottom first, into the directory `root`. */
function unpack(archive: string, img: OciImage, root: string) {
  const blobs = mkdtempSync(join(tmpdir(), 'ambit-images-blobs-'));
  try {
    for (const l of img.manifest.layers) {
      const path = `blobs/${l.digest.replace(':', '/')}`;
      execFileSync('tar', ['-xf', archive, '-C', blobs, path]);
      execFileSync('tar', ['-xzf', join(blobs, path), '-C', root]);
    }
  } finally {
    rmSync(blobs, { recursive: true, force: true });
  }
}

test('the Node base runs node and npm from its own root file system (chroot, as root)', (t) => {
  if (typeof built === 'string') return t.fail(built);
  const base = built.find((b) => b.target === 'base' && b.ref.includes('/node-base:'));
  if (!base) return t.fail(`no node-base archive in ${dir}/images.json: run \`npm run images\``);
  if (process.getuid?.() !== 0) return t.fail('this check unpacks the base and chroots into it: run it as root');
  const img = readOciArchive(base.archive);
  const root = mkdtempSync(join(tmpdir(), 'ambit-images-test-'));
  try {
    unpack(base.archive, img, root);
    const version = execFileSync('chroot', [root, '/usr/local/bin/node', '--version'], { encoding: 'utf8' }).trim();
    t.is(`v${env(img).get('NODE_VERSION')}`, version);
    const pinned = (JSON.parse(read('node_modules/node/package.json')) as { version: string }).version;
    t.is(version, `v${pinned}`, 'the Node of the npm package `node` the repository installs');
    t.regex(execFileSync('chroot', [root, '/usr/local/bin/npm', '--version'], { encoding: 'utf8' }), /^\d+\.\d+\.\d+\n$/);
    t.regex(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^node:x:1000:1000:/m);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the Prometheus add-on's image runs Prometheus 3.16 with Kubernetes service discovery (chroot, as root)", (t) => {
  if (typeof built === 'string') return t.fail(built);
  const ref = refsIn('samples/addons/prometheus.yaml')[0]!;
  const b = built.find((i) => i.ref === ref);
  if (!b) return t.fail(`no archive for ${ref} in ${dir}/images.json: run \`npm run images\``);
  if (process.getuid?.() !== 0) return t.fail('this check unpacks the image and chroots into it: run it as root');
  const root = mkdtempSync(join(tmpdir(), 'ambit-images-test-'));
  try {
    unpack(b.archive, readOciArchive(b.archive), root);
    const version = execFileSync('chroot', [root, '/usr/bin/prometheus', '--version'], { encoding: 'utf8' });
    t.regex(version, /^prometheus, version 3\.16\.\d+ /);
    t.regex(version, /tags:\s+remove_all_sd,enable_kubernetes_sd/);
    // The image's default config checks, and so does a job with Kubernetes pod discovery (Debian's build refused it).
    t.regex(execFileSync('chroot', [root, '/usr/bin/promtool', 'check', 'config', '/etc/prometheus/prometheus.yml'], { encoding: 'utf8' }), /SUCCESS/);
    writeFileSync(join(root, 'tmp/k8s.yml'), 'scrape_configs:\n  - job_name: kubernetes-pods\n    kubernetes_sd_configs:\n      - role: pod\n');
    t.regex(execFileSync('chroot', [root, '/usr/bin/promtool', 'check', 'config', '/tmp/k8s.yml'], { encoding: 'utf8' }), /SUCCESS/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
