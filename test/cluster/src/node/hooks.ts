// Container lifecycle hooks: preStop (exec, httpGet, sleep), run before SIGTERM within the grace period.
import { spawn } from 'node:child_process';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { probeCommand, type ProbeTarget } from './probes.js';

export async function runPreStop(spec: V1Container, graceMs: number, target: ProbeTarget): Promise<void> {
  const hook = spec.lifecycle?.preStop;
  if (!hook) return;
  if (hook.sleep?.seconds) {
    await new Promise((r) => setTimeout(r, Math.min(hook.sleep!.seconds * 1000, graceMs)));
    return;
  }
  // An exec/httpGet handler runs like a probe whose timeout is the grace period.
  const argv = probeCommand({ ...hook, timeoutSeconds: Math.max(1, Math.floor(graceMs / 1000)) } as V1Probe, spec, target);
  if (!argv) return;
  await new Promise<void>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', env: hook.exec ? target.env : { PATH: process.env.PATH ?? '' } });
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
    child.on('error', () => resolve());
    child.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
