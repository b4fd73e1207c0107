// A child process of the cluster supervisor: output goes to a log file in the state dir, exit is observed,
// stop() sends SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';

export interface ManagedProcessOptions {
  name: string;
  cmd: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with every complete stdout line (the line still goes to the log file). */
  onStdoutLine?: (line: string) => void;
}

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopping = false;
  private readonly log: WriteStream;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(opts: ManagedProcessOptions, onUnexpectedExit?: (p: ManagedProcess) => void) {
    this.name = opts.name;
    this.logFile = opts.logFile;
    this.log = createWriteStream(opts.logFile, { flags: 'a', mode: 0o644 });
    this.child = spawn(opts.cmd, opts.args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout!.on('data', (b: Buffer) => {
      this.log.write(b);
      if (!opts.onStdoutLine) return;
      partial += b.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) opts.onStdoutLine(line);
    });
    this.child.stderr!.on('data', (b: Buffer) => this.log.write(b));
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.log.write(`spawn error: ${e.message}\n`);
      });
      this.child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.log.end();
        if (!this.stopping) onUnexpectedExit?.(this);
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The last lines of its log; once it has exited, everything it wrote is in. */
  async logTail(lines = 20): Promise<string> {
    if (!this.running) await finished(this.log).catch(() => undefined);
    return logTail(this.logFile, lines);
  }

  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
async function logTail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
