import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountPoints } from '../src/node/mountpoints.js';

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'ambit-mp-'));
  return { root, mp: new MountPoints(join(root, 'registry')) };
}

test('missing mount points are created, and removed with their last user', async (t) => {
  const { root, mp } = setup();
  const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  const tokens = join(root, 'var/run/secrets/tokens');
  await mp.acquire('pod-a', sa, 'dir');
  await mp.acquire('pod-b', sa, 'dir');
  await mp.acquire('pod-b', tokens, 'dir');
  t.true(existsSync(sa));
  await mp.release('pod-a');
  t.true(existsSync(sa), 'pod-b still uses it');
  const removed = await mp.release('pod-b');
  t.false(existsSync(join(root, 'var')));
  t.true(removed.includes(sa) && removed.includes(tokens));
});

test('paths that existed before are never removed; file mount points are empty files', async (t) => {
  const { root, mp } = setup();
  const existing = join(root, 'etc');
  mkdirSync(existing);
  writeFileSync(join(existing, 'keep'), 'x');
  const file = join(existing, 'app.conf');
  await mp.acquire('pod-a', join(existing, 'demo'), 'dir');
  await mp.acquire('pod-a', file, 'file');
  t.true(existsSync(file));
  await mp.release('pod-a');
  t.false(existsSync(file));
  t.false(existsSync(join(existing, 'demo')));
  t.true(existsSync(join(existing, 'keep')));
});

test('a directory someone else filled is left in place', async (t) => {
  const { root, mp } = setup();
  const dir = join(root, 'data');
  await mp.acquire('pod-a', dir, 'dir');
  writeFileSync(join(dir, 'foreign'), 'y');
  await mp.release('pod-a');
  t.true(existsSync(join(dir, 'foreign')));
});

test('owners whose pod directory is gone (a killed agent, a removed cluster) do not keep paths alive', async (t) => {
  const { root, mp } = setup();
  const target = join(root, 'var/run/secrets/tokens');
  const podA = join(root, 'state/pods/a');
  const podB = join(root, 'state/pods/b');
  mkdirSync(podA, { recursive: true });
  mkdirSync(podB, { recursive: true });
  await mp.acquire('a', target, 'dir', podA);
  await mp.acquire('b', target, 'dir', podB);
  rmSync(podA, { recursive: true });
  t.deepEqual(await mp.sweep(), [], 'b is alive');
  t.true(existsSync(target));
  await mp.release('b');
  t.false(existsSync(target), 'the dead owner a does not hold it');
  await mp.acquire('c', target, 'dir', podB);
  rmSync(podB, { recursive: true });
  t.true((await mp.sweep()).includes(target));
  t.false(existsSync(join(root, 'var')));
});
