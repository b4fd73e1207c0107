// `npm run cluster:load`: which names an archive carries, and one clear line for anything that is not an image.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageNamesInArchive } from '../src/realnode/load.js';
import { normalizeImageRef } from '../src/realnode/images.js';

const dir = mkdtempSync(join(tmpdir(), 'ambit-load-'));

function tarOf(name: string, files: Record<string, string>): string {
  const src = join(dir, `${name}.d`);
  mkdirSync(src, { recursive: true });
  for (const [f, body] of Object.entries(files)) writeFileSync(join(src, f), body);
  const out = join(dir, `${name}.tar`);
  execFileSync('tar', ['-cf', out, '-C', src, ...Object.keys(files)]);
  return out;
}

test('an OCI archive gives the names of its index annotations', async (t) => {
  const f = tarOf('oci', {
    'oci-layout': '{"imageLayoutVersion":"1.0.0"}',
    'index.json': JSON.stringify({ schemaVersion: 2, manifests: [{ annotations: { 'org.opencontainers.image.ref.name': 'example.local/app:1' } }] }),
  });
  t.deepEqual(await imageNamesInArchive(f), ['example.local/app:1']);
});

test('a docker archive gives its RepoTags', async (t) => {
  const f = tarOf('docker', { 'manifest.json': JSON.stringify([{ RepoTags: ['busybox:1.36'], Layers: [] }]) });
  t.deepEqual(await imageNamesInArchive(f), ['busybox:1.36']);
});

test('a corrupt file, a tar of something else, an unnamed OCI archive and a missing file are refused with one line', async (t) => {
  const garbage = join(dir, 'garbage.tar');
  writeFileSync(garbage, 'this is not a tar file at all'.repeat(40));
  const other = tarOf('other', { 'README': 'hello' });
  const unnamed = tarOf('unnamed', { 'oci-layout': '{}', 'index.json': JSON.stringify({ manifests: [{ annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }) });
  const badJson = tarOf('badjson', { 'oci-layout': '{}', 'index.json': '{not json' });
  for (const [f, pattern] of [
    [garbage, /garbage\.tar is not an image archive: not a readable tar file/],
    [other, /other\.tar is not an image archive: no index\.json\/oci-layout/],
    [unnamed, /names no image/],
    [badJson, /not valid JSON/],
    [join(dir, 'missing.tar'), /no such file/],
  ] as const) {
    const e = await t.throwsAsync(imageNamesInArchive(f));
    t.regex(e!.message, pattern);
    t.false(e!.message.includes('\n'), 'one line');
  }
});

test('image references are normalised as the CRI looks them up', (t) => {
  t.is(normalizeImageRef('busybox'), 'docker.io/library/busybox:latest');
  t.is(normalizeImageRef('python:3.12'), 'docker.io/library/python:3.12');
  t.is(normalizeImageRef('ambit/controller:0.1.0'), 'docker.io/ambit/controller:0.1.0');
  t.is(normalizeImageRef('docker.io/istio/examples-bookinfo-ratings-v1:1.20.3'), 'docker.io/istio/examples-bookinfo-ratings-v1:1.20.3');
  t.is(normalizeImageRef('localhost/ambit/pause:v1.36.3'), 'localhost/ambit/pause:v1.36.3');
  t.is(normalizeImageRef('localhost:5000/x'), 'localhost:5000/x:latest');
  t.is(normalizeImageRef('registry.k8s.io/coredns/coredns@sha256:abc'), 'registry.k8s.io/coredns/coredns@sha256:abc');
});
