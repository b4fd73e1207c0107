// The controller's module graph stays a tree of layers: no import cycle between files, none between the folders
// of src/ (a folder never imports from a folder that imports it), and no folder imports the top-level files
// (index.ts, main.ts, control-plane.ts, config.ts: the composition root and the public surface). Type-only
// imports count: they are where cycles start.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/imports.test.js -> controller/src
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const SPECIFIER = /(?:^|[\n;])\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []));
}

/** file (relative to src) -> the files it imports (relative to src). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(SPECIFIER)) deps.add(relative(SRC, resolve(dirname(file), m[1] ?? m[2]!)).replace(/\.js$/, '.ts'));
    graph.set(relative(SRC, file), [...deps]);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, as `a -> b -> a`. */
function cycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const found: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    path.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') found.push([...path.slice(path.indexOf(d)), d].join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    path.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

test('the import parser sees the imports (sanity)', (t) => {
  const graph = importGraph();
  t.true(graph.size > 50);
  t.true(graph.get('control-plane.ts')?.includes('mesh/watch.ts'));
  t.true(graph.get('main.ts')?.includes('control-plane.ts'));
  t.deepEqual(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['a.ts']]])), ['a.ts -> b.ts -> a.ts']);
});

test('no import cycle between the files of controller/src', (t) => {
  t.deepEqual(cycles(importGraph()), []);
});

test('no import cycle between the folders of controller/src, and none imports the top-level files', (t) => {
  const folders = new Map<string, string[]>();
  const upward: string[] = [];
  for (const [file, deps] of importGraph()) {
    const from = folderOf(file);
    for (const dep of deps) {
      const to = folderOf(dep);
      if (from !== '.' && to === '.') upward.push(`${file} -> ${dep}`);
      if (from === to) continue;
      folders.set(from, [...new Set([...(folders.get(from) ?? []), to])]);
    }
  }
  t.deepEqual(upward, []);
  t.deepEqual(cycles(folders), []);
});

/** Every file `from` imports, directly or not (itself included). */
function reachable(graph: Map<string, string[]>, from: string): Set<string> {
  const seen = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const d of graph.get(f) ?? []) walk(d);
  };
  walk(from);
  return seen;
}

test('the CLI does not load the composition root', (t) => {
  const seen = reachable(importGraph(), 'cli/main.ts');
  t.false(seen.has('control-plane.ts'));
  t.false(seen.has('main.ts'));
});

test('the mesh model does not depend on the Deployment renderer', (t) => {
  const seen = reachable(importGraph(), 'mesh/build.ts');
  t.true(seen.has('mesh/build-waypoints.ts'), 'the walk sees the builders');
  t.false(seen.has('gateway/render.ts'));
});
