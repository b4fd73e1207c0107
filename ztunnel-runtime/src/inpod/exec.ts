// Running iptables/ip inside a network namespace: `nsenter --net=<path> <cmd>` (util-linux), so any nsfs path works,
// not only names under /var/run/netns.
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {
      /* the command may exit before reading its input; its exit code tells */
    });
    child.stdin.end(input ?? '');
  });
}

export async function runInNetnsPath(netnsPath: string, cmd: string, args: string[], input?: string): Promise<CommandResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], input);
}

export async function runOkInNetnsPath(netnsPath: string, cmd: string, args: string[], input?: string): Promise<string> {
  const r = await runInNetnsPath(netnsPath, cmd, args, input);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} in ${netnsPath} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}
