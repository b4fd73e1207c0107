// buildControlPlane(): runs test/k8s/build.sh (a no-op when the cache has every binary) and returns the bin dir.
import { spawn } from 'node:child_process';
import { buildScript } from './paths.js';

export function buildControlPlane(opts: { log?: (line: string) => void } = {}): Promise<string> {
  const log = opts.log ?? (() => {});
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    let partial = '';
    child.stderr.on('data', (b: Buffer) => {
      const text = partial + b.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        stderrTail = (stderrTail + l + '\n').slice(-4000);
        log(`k8s build: ${l}`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = stdout.trim().split('\n');
      const binDir = lines[lines.length - 1]?.trim();
      if (code !== 0 || !binDir) {
        reject(new Error(`test/k8s/build.sh failed (exit ${code}):\n${stderrTail}`));
        return;
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      log(`control plane binaries in ${binDir} (${secs}s)`);
      resolve(binDir);
    });
  });
}
