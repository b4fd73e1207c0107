// The node programs (containerd, its runc shim, ctr, the CNI plugins, pause), built once into the cache by
// test/node/build.sh; the kubelet comes with the control plane (test/k8s/build.sh).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../controlplane/paths.js';

export function buildNodeBinaries(opts: { log?: (line: string) => void } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'test', 'node', 'build.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      for (const l of b.toString().split('\n')) if (l.startsWith('built ')) opts.log?.(l);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out.trim().split('\n').pop()!);
      else reject(new Error(`test/node/build.sh failed (exit ${code}):\n${err.trim().split('\n').slice(-15).join('\n')}`));
    });
  });
}
