#!/usr/bin/env node
// `npm run bench`: runs the `bench` script of every workspace that has one, in order, and prints its output.
// Benchmarks report numbers; they never fail the run on a number (a crashed bench is reported and skipped).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { workspaces = [] } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const only = process.env.AMBIT_BENCH?.split(',');
for (const ws of workspaces) {
  const pkgPath = join(root, ws, 'package.json');
  if (!existsSync(pkgPath)) continue;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  if (!pkg.scripts?.bench || (only && !only.includes(ws) && !only.includes(pkg.name))) continue;
  console.log(`\n=== bench: ${pkg.name} (${ws}) ===`);
  const r = spawnSync('npm', ['run', '--silent', 'bench'], { cwd: join(root, ws), stdio: 'inherit', env: process.env });
  if (r.status !== 0) console.log(`(bench ${pkg.name} exited with ${r.status ?? r.signal}; continuing)`);
}
