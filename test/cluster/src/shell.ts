// Runs commands the way a user types them (the walkthrough, the demo, the cluster tests): through `sh -c`, with
// KUBECONFIG set and the cluster's kubectl and the `ambit` CLI first on PATH, so a printed command is exactly what ran.
import { spawn } from 'node:child_process';

export interface ShellResult {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
}

export interface Shell {
  run(command: string, opts?: { timeoutMs?: number; input?: string }): Promise<ShellResult>;
  env: NodeJS.ProcessEnv;
  /**
   * Kills every running command with its whole process group (each runs detached, so a terminal's Ctrl-C does
   * not reach it) and refuses new ones: what an interrupted demo does before it tears the cluster down.
   */
  close(): Promise<void>;
}

export function createShell(opts: { kubeconfigPath: string; pathPrepend: string[]; cwd: string }): Shell {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: opts.kubeconfigPath,
    PATH: [...opts.pathPrepend, process.env.PATH ?? ''].join(':'),
  };
  const running = new Map<number, Promise<void>>();
  let closed = false;
  const killGroup = (pid: number) => {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  return {
    env,
    async close() {
      closed = true;
      for (const pid of running.keys()) killGroup(pid);
      await Promise.all(running.values());
    },
    run(command, runOpts = {}) {
      if (closed) return Promise.resolve({ command, code: 130, stdout: '', stderr: '(interrupted)' });
      return new Promise((resolve) => {
        const child = spawn('sh', ['-c', command], { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => { stdout += d; });
        child.stderr.on('data', (d) => { stderr += d; });
        // A command that exits before reading its input closes the pipe: EPIPE here is not the command's failure
        // (unhandled, it would take the demo down).
        child.stdin.on('error', () => {});
        child.stdin.end(runOpts.input ?? '');
        const timer = setTimeout(() => {
          stderr += `\n(timed out after ${runOpts.timeoutMs} ms)`;
          killGroup(child.pid!);
        }, runOpts.timeoutMs ?? 120_000);
        let exited!: () => void;
        if (child.pid) running.set(child.pid, new Promise((r) => { exited = r; }));
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          // The shell is gone; anything it started in the background still holds its process group.
          killGroup(child.pid!);
          running.delete(child.pid!);
          exited?.();
          resolve({ command, code: code ?? (signal ? 128 : 1), stdout, stderr });
        });
      });
    },
  };
}
