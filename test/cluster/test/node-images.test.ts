import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageRepository, matchImage, parseImageTable, repositoryCandidates, resolveCommand } from '../src/node/images.js';

const tableFile = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'images.json');
const table = parseImageTable(readFileSync(tableFile, 'utf8'));
const ctx = { repoRoot: '/repo', binDir: '/bin-dir', nodeBinary: '/usr/bin/node24' };
const all = () => true;

test('image references lose tag and digest but keep a registry port', (t) => {
  t.is(imageRepository('python:3.12'), 'python');
  t.is(imageRepository('docker.io/library/python@sha256:abc'), 'docker.io/library/python');
  t.is(imageRepository('localhost:5000/ambit/controller:dev'), 'localhost:5000/ambit/controller');
  t.deepEqual(repositoryCandidates('docker.io/library/busybox:1.36'), ['docker.io/library/busybox', 'busybox', 'library/busybox']);
});

test('the shipped table maps the images the cluster runs', (t) => {
  t.is(matchImage(table, 'curlimages/curl:8.8.0')?.run.kind, 'command');
  t.is(matchImage(table, 'docker.io/library/python:3.12-slim')?.image, 'python');
  t.is(matchImage(table, 'busybox')?.image, 'busybox');
  t.is(matchImage(table, 'registry.k8s.io/coredns/coredns:v1.12.0')?.run.kind, 'bin');
  t.deepEqual(matchImage(table, 'ambit/ztunnel:latest')?.run, { kind: 'node', script: 'ztunnel-runtime/dist/src/main.js' });
  t.deepEqual(matchImage(table, 'docker.io/istio/examples-bookinfo-reviews-v2:1.20.3')?.run, { kind: 'node', script: 'samples/dist/src/bookinfo/reviews.js' });
  t.is(matchImage(table, 'nginx:1.27'), undefined);
  t.is(matchImage(table, 'pythonista/tool'), undefined);
});

test('command images: command + args, or the table entrypoint/cmd when unset', (t) => {
  t.deepEqual(resolveCommand(table, { image: 'python:3', command: ['python3', '-m', 'http.server', '8080'] }, ctx, all), {
    ok: true,
    argv: ['python3', '-m', 'http.server', '8080'],
  });
  t.deepEqual(resolveCommand(table, { image: 'curlimages/curl', args: ['-s', 'http://web/'] }, ctx, all), { ok: true, argv: ['curl', '-s', 'http://web/'] });
  t.deepEqual(resolveCommand(table, { image: 'busybox' }, ctx, all), { ok: true, argv: ['sh'] });
  t.deepEqual(resolveCommand(table, { image: 'busybox', command: ['/bin/sleep', 'infinity'] }, ctx, all), { ok: true, argv: ['/bin/sleep', 'infinity'] });
});

test('node images run their script with the agent Node binary; a missing script is an image pull failure', (t) => {
  t.deepEqual(resolveCommand(table, { image: 'ambit/controller:dev', command: ['ignored'], args: ['--port', '15012'] }, ctx, all), {
    ok: true,
    argv: ['/usr/bin/node24', '/repo/controller/dist/src/main.js', '--port', '15012'],
  });
  const missing = resolveCommand(table, { image: 'ambit/waypoint:dev' }, ctx, () => false);
  t.false(missing.ok);
  if (!missing.ok) {
    t.is(missing.reason, 'ErrImagePull');
    t.regex(missing.message, /ambit\/waypoint:dev/);
  }
});

test('bin images run from binDir with the container args', (t) => {
  t.deepEqual(resolveCommand(table, { image: 'registry.k8s.io/coredns/coredns:v1.12.0', args: ['-conf', '/etc/coredns/Corefile'] }, ctx, all), {
    ok: true,
    argv: ['/bin-dir/coredns', '-conf', '/etc/coredns/Corefile'],
  });
});

test('an unmapped image is ErrImagePull naming the image', (t) => {
  const r = resolveCommand(table, { image: 'example.com/nothing:1' }, ctx, all);
  t.false(r.ok);
  if (!r.ok) t.regex(r.message, /"example\.com\/nothing:1"/);
});

test('bad tables are rejected', (t) => {
  t.throws(() => parseImageTable('{"images": [{"image": "x", "run": {"kind": "docker"}}]}'), { message: /unknown kind/ });
  t.throws(() => parseImageTable('{"images": [{"image": "x", "run": {"kind": "node"}}]}'), { message: /script/ });
  t.throws(() => parseImageTable('{}'), { message: /images/ });
});

test('bookinfo images: both registries map, and reviews v1/v2/v3 carry their version config as image ENV', (t) => {
  for (const prefix of ['docker.io/istio', 'istio', 'registry.istio.io/release']) {
    t.deepEqual(matchImage(table, `${prefix}/examples-bookinfo-productpage-v1:1.20.3`)?.run, { kind: 'node', script: 'samples/dist/src/bookinfo/productpage.js' }, prefix);
    const env = (v: string) => {
      const r = resolveCommand(table, { image: `${prefix}/examples-bookinfo-reviews-${v}:1.20.3` }, ctx, all);
      return r.ok ? r.env : undefined;
    };
    t.like(env('v1'), { ENABLE_RATINGS: 'false' }, prefix);
    t.like(env('v2'), { ENABLE_RATINGS: 'true', STAR_COLOR: 'black' }, prefix);
    t.like(env('v3'), { ENABLE_RATINGS: 'true', STAR_COLOR: 'red' }, prefix);
  }
  // Images without ENV resolve as before (no env key).
  t.deepEqual(resolveCommand(table, { image: 'busybox' }, ctx, all), { ok: true, argv: ['sh'] });
});

test('an image entry env must map names to strings', (t) => {
  t.throws(() => parseImageTable(JSON.stringify({ images: [{ image: 'x', env: { A: 1 }, run: { kind: 'command' } }] })), { message: /entry 0: "env"/ });
});
