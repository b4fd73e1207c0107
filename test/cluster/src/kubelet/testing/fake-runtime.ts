// A ContainerRuntime for tests: "containers" are names; exec spawns the command as a local process, logs come
// from an in-memory per-container log that tests append to.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { NotFoundError, type ContainerRef, type ContainerRuntime, type ExecIO, type LogOptions } from '../../node/runtime.js';

const key = (r: ContainerRef) => `${r.namespace}/${r.pod}/${r.container}`;

interface FakeContainer {
  lines: string[];
  previous?: string[];
  followers: Set<PassThrough>;
  running: boolean;
}

export class FakeRuntime implements ContainerRuntime {
  private readonly containers = new Map<string, FakeContainer>();
  /** Every exec and logs call, for assertions on what the server passed through. */
  readonly calls: {
    kind: 'exec' | 'logs';
    ref: ContainerRef;
    command?: string[];
    tty?: boolean;
    opts?: LogOptions;
    /** The kubelet's abort signal (client gone before the command ended). */
    signal?: AbortSignal;
    /** Resolves with the exit code once the command ended. */
    ended?: Promise<number>;
  }[] = [];

  addContainer(ref: ContainerRef, lines: string[] = [], previous?: string[]): void {
    this.containers.set(key(ref), { lines: [...lines], previous, followers: new Set(), running: true });
  }

  hasContainer(ref: ContainerRef): boolean {
    return this.containers.has(key(ref));
  }

  appendLog(ref: ContainerRef, line: string): void {
    const c = this.get(ref);
    c.lines.push(line);
    for (const f of c.followers) f.write(`${line}\n`);
  }

  /** The container stops: followers reach the end of the log. */
  stop(ref: ContainerRef): void {
    const c = this.get(ref);
    c.running = false;
    for (const f of c.followers) f.end();
    c.followers.clear();
  }

  followerCount(ref: ContainerRef): number {
    return this.get(ref).followers.size;
  }

  private get(ref: ContainerRef): FakeContainer {
    const c = this.containers.get(key(ref));
    if (!c) throw new NotFoundError(`container "${ref.container}" in pod "${ref.namespace}/${ref.pod}" not found`);
    return c;
  }

  async exec(ref: ContainerRef, command: string[], io: ExecIO): Promise<number> {
    this.get(ref);
    const call: (typeof this.calls)[number] = { kind: 'exec', ref, command, tty: io.tty, signal: (io as { signal?: AbortSignal }).signal };
    this.calls.push(call);
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // EPIPE when the command does not read its input
    if (io.stdin) io.stdin.pipe(child.stdin);
    else child.stdin.end();
    child.stdout.pipe(io.stdout, { end: false });
    child.stderr.pipe(io.tty ? io.stdout : io.stderr, { end: false });
    call.ended = new Promise((resolve, reject) => {
      child.on('error', reject);
      // 'close' comes after stdout/stderr ended, so all output has been handed to io.stdout/io.stderr.
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
    });
    return call.ended;
  }

  async logs(ref: ContainerRef, opts: LogOptions): Promise<NodeJS.ReadableStream> {
    const c = this.get(ref);
    this.calls.push({ kind: 'logs', ref, opts });
    let lines = opts.previous ? c.previous : c.lines;
    if (!lines) throw new NotFoundError(`previous terminated container "${ref.container}" in pod "${ref.pod}" not found`);
    if (opts.tailLines !== undefined) lines = opts.tailLines === 0 ? [] : lines.slice(-opts.tailLines);
    const out = new PassThrough();
    for (const l of lines) out.write(`${l}\n`);
    if (opts.follow && !opts.previous && c.running) {
      c.followers.add(out);
      out.on('close', () => c.followers.delete(out));
    } else {
      out.end();
    }
    return out;
  }

  /** "Inside the pod" is this machine's loopback: connects to 127.0.0.1:port. */
  async portForward(ref: { namespace: string; pod: string }, port: number): Promise<NodeJS.ReadWriteStream> {
    if (![...this.containers.keys()].some((k) => k.startsWith(`${ref.namespace}/${ref.pod}/`))) {
      throw new NotFoundError(`pod "${ref.pod}" in namespace "${ref.namespace}" not found`);
    }
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  }
}
