#!/usr/bin/env node
// `npm test`: unit tests, then (as root, where the local cluster can be built) the system tests that own a
// cluster each, then the integration and end-to-end tests against one shared cluster. Every phase runs ava
// with TAP output; the counts are summed into the closing line `N passed, N failed, N skipped`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.js');
const totals = { pass: 0, fail: 0, skip: 0, todo: 0 };
const only = process.env.AMBIT_TEST_PHASES?.split(',') ?? ['unit', 'system', 'integration'];

function runAva(config, env = {}) {
  return new Promise((resolve) => {
    const args = [ava, '--tap'];
    if (config) args.push('--config', config);
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4096);
    });
    child.on('close', (code) => {
      const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(tail)?.[1] ?? 0);
      const phase = { pass: count('pass'), fail: count('fail'), skip: count('skip'), todo: count('todo') };
      // A crashed runner (no TAP plan) still counts as a failure.
      if (code !== 0 && phase.fail === 0) phase.fail = 1;
      for (const k of Object.keys(totals)) totals[k] += phase[k];
      resolve(phase);
    });
  });
}

function canRunCluster() {
  if (process.getuid?.() !== 0) return 'not root: network namespaces and iptables need root';
  if (spawnSync('bash', [join(root, 'scripts/ensure-tools.sh')], { stdio: 'inherit' }).status !== 0) return 'the machine tools could not be installed';
  for (const tool of ['ip', 'iptables', 'curl', 'go']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (see .ci/run)`;
  }
  return undefined;
}

async function main() {
  if (only.includes('unit')) {
    console.log('# phase: unit');
    await runAva('ava.config.js');
  }
  const why = canRunCluster();
  if (why) {
    console.log(`# phases system and integration not run: ${why}`);
  } else {
    const { buildControlPlane, startCluster } = await import(join(root, 'test/cluster/dist/src/index.js'));
    await buildControlPlane({ log: (line) => console.log(`# ${line}`) });
    if (only.includes('system') && existsSync(join(root, 'test/cluster/dist/test/system'))) {
      console.log('# phase: system (each test owns its cluster)');
      await runAva('ava.system.config.js');
    }
    if (only.includes('integration')) {
      console.log('# phase: integration (one shared cluster)');
      const cluster = await startCluster({ log: (line) => console.log(`# ${line}`) });
      try {
        await runAva('ava.integration.config.js', { AMBIT_KUBECONFIG: cluster.kubeconfigPath });
      } finally {
        await cluster.stop();
      }
    }
  }
  console.log(`${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped`);
  process.exitCode = totals.fail > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  console.log(`${totals.pass} passed, ${totals.fail + 1} failed, ${totals.skip} skipped`);
  process.exitCode = 1;
});
