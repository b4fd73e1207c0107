// Running one exec'd command through the runtime, independent of the transport (SPDY streams or WebSocket
// channels): output sinks that forward to the transport with back-pressure, the abort signal, and the resulting
// metav1.Status.
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import type { ContainerRef, ContainerRuntime, ExecIO } from '../node/runtime.js';
import { describe } from './routes.js';
import { errorMessage, errorStatus, exitCodeStatus, runtimeErrorCode, successStatus, type Status } from './status.js';

export type Log = (line: string) => void;

/** ExecIO plus an abort signal fired when the client goes away before the command ended. */
export type KubeletExecIO = ExecIO & { signal?: AbortSignal };

/** Hand `chunk` to the transport; call `done` once it may take more. */
export type Send = (chunk: Buffer, done: () => void) => void;

/** Forwards writes to the transport, and leaves ending it to us: the runtime may or may not end() its stdout. */
export class OutputSink extends Writable {
  private waiters: (() => void)[] = [];

  constructor(private readonly send: Send | undefined) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const done = () => {
      cb();
      if (this.waiters.length) setImmediate(() => this.wake());
    };
    if (!this.send) done();
    else this.send(chunk, done);
  }

  /** Resolves once everything written so far went through to the transport. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      setImmediate(() => {
        this.waiters.push(resolve);
        this.wake();
      });
    });
  }

  private wake(): void {
    if (this.writableLength !== 0 && !this.destroyed) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export interface CommandIO {
  stdin?: Readable;
  stdout?: Send;
  stderr?: Send;
  tty: boolean;
  signal: AbortSignal;
  /** Transport and protocol, for the log line. */
  via: string;
}

/** Run the command; resolves with its Status once all of its output went to the transport. */
export async function runCommand(
  runtime: ContainerRuntime,
  log: Log,
  ref: ContainerRef,
  command: string[],
  io: CommandIO,
): Promise<Status> {
  const stdout = new OutputSink(io.stdout);
  const stderr = new OutputSink(io.stderr);
  const execIO: KubeletExecIO = { stdin: io.stdin, stdout, stderr, tty: io.tty, signal: io.signal };
  let status: Status;
  const started = Date.now();
  try {
    const code = await runtime.exec(ref, command, execIO);
    status = code === 0 ? successStatus() : exitCodeStatus(code);
    log(`kubelet: exec ${describe(ref)} ${command[0]} exited ${code} (${io.via}, ${Date.now() - started}ms)`);
  } catch (err) {
    const code = runtimeErrorCode(err);
    const message =
      code === 500 ? `Internal error occurred: error executing command in container: ${errorMessage(err)}` : errorMessage(err);
    status = errorStatus(code, message);
    log(`kubelet: exec ${describe(ref)} ${command[0]} failed (${io.via}): ${errorMessage(err)}`);
  }
  // Output the runtime wrote in its last turn may still be queued in the sinks: let it through first.
  await stdout.idle();
  await stderr.idle();
  return status;
}
