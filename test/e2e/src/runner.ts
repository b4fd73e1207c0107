// Runs walkthrough steps through a shell, retrying commands whose expectations wait on the mesh to
// converge, and reports each command with its final output and verdicts.
import type { Shell, ShellResult } from '@ambit/cluster';
import type { Command, Memo, Step } from './walkthrough.js';

export interface CommandOutcome {
  command: Command;
  result: ShellResult;
  failed: string[];
}

export interface Reporter {
  step?(step: Step): void;
  command?(outcome: CommandOutcome): void;
}

/** `export NAME=value`, as the seeds set GATEWAY_HOST: every later command sees it, as in a user's terminal. */
const EXPORT = /^export ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/;

function applyExports(shell: Shell, command: Command): CommandOutcome | undefined {
  const lines = command.run.split('\n');
  if (!lines.every((l) => EXPORT.test(l))) return undefined;
  for (const l of lines) {
    const [, name, value] = EXPORT.exec(l)!;
    shell.env[name!] = value;
  }
  return { command, result: { command: command.run, code: 0, stdout: '', stderr: '' }, failed: [] };
}

export async function runCommand(shell: Shell, command: Command, memo: Memo): Promise<CommandOutcome> {
  const exported = applyExports(shell, command);
  if (exported) return exported;
  const deadline = Date.now() + (command.retryForMs ?? 0);
  for (;;) {
    const result = await shell.run(command.run, { timeoutMs: command.timeoutMs ?? 120_000 });
    const failed = (command.expect ?? []).filter((e) => !e.check(result, memo)).map((e) => e.says);
    if (failed.length === 0 || Date.now() >= deadline) {
      if (failed.length === 0) command.remember?.(result, memo);
      return { command, result, failed };
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Runs the steps in order; stops at the first command whose expectations do not hold. */
export async function runSteps(shell: Shell, steps: Step[], reporter: Reporter, memo: Memo = {}): Promise<CommandOutcome | undefined> {
  for (const step of steps) {
    reporter.step?.(step);
    for (const command of step.commands) {
      const outcome = await runCommand(shell, command, memo);
      reporter.command?.(outcome);
      if (outcome.failed.length > 0) return outcome;
    }
  }
  return undefined;
}

/** What a user would look at when a step fails: the pods, recent events and the mesh components' last log lines. */
export const DIAGNOSTIC_COMMANDS = [
  'kubectl get pods -A -o wide',
  'kubectl get events -A --sort-by=.lastTimestamp | tail -n 25',
  'kubectl logs -n istio-system -l app=ztunnel --tail=120 --prefix',
  'kubectl logs -n istio-system -l k8s-app=istio-cni-node --tail=60 --prefix',
  'kubectl logs -n istio-system -l app=istiod --tail=25 --prefix',
];

export async function diagnostics(shell: Shell): Promise<string> {
  const parts: string[] = [];
  for (const cmd of DIAGNOSTIC_COMMANDS) {
    const r = await shell.run(cmd, { timeoutMs: 20_000 });
    parts.push(`$ ${cmd}\n${(r.stdout + r.stderr).trimEnd()}`);
  }
  return parts.join('\n');
}
