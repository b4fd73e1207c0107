// One container of a pod: resolve its image to a command, start it as a process in the pod's namespaces, log its
// output, run its probes, restart it per restart policy with the kubelet's back-off, stop it on request.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Container, V1ContainerState, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { Backoff, formatDuration } from './backoff.js';
import { ContainerConfigError, expandArgv } from './env.js';
import { runPreStop } from './hooks.js';
import { resolveCommand, type ImageTable, type ResolveContext } from './images.js';
import { errorMessage } from './kube.js';
import { enclosingMount, launcherScript, prepareMountPoints } from './launcher.js';
import type { Log } from './log.js';
import { LogWriter } from './logfile.js';
import type { MountPoints } from './mountpoints.js';
import { Prober } from './probes.js';
import { readProcStart } from './sh.js';
import { VolumeError, type Mount, type PodVolumes } from './volumes.js';

export interface PodContext {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  pod(): V1Pod;
  /** The sandbox's netns, or undefined for hostNetwork pods. */
  readonly netns: string | undefined;
  podIP(): string | undefined;
  readonly hostIP: string;
  readonly dir: string;
  readonly images: ImageTable;
  readonly resolveContext: ResolveContext;
  readonly volumes: PodVolumes;
  readonly mountPoints: MountPoints;
  env(container: V1Container): Promise<Record<string, string>>;
  readonly log: Log;
  changed(): void;
  event(type: 'Normal' | 'Warning', reason: string, message: string, container?: string): void;
  /** Lower the grace period for all stop requests (e.g. when the agent shuts down). */
  readonly maxGraceMs: number;
}

export type ContainerRole = 'init' | 'sidecar' | 'main';
export type RunResult = 'succeeded' | 'failed' | 'stopped';

type State =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | { kind: 'terminated'; exitCode: number; signal?: number; reason: string; message?: string; startedAt?: Date; finishedAt: Date; containerID?: string };

const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGABRT: 6 };

export function basePath(): string {
  return process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}

export class ContainerRunner {
  restartCount = 0;
  state: State;
  lastState?: State;
  ready = false;
  started = false;
  pid?: number;
  containerID?: string;
  env: Record<string, string> = {};
  workingDir = '/';
  private proc?: ChildProcess;
  private exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Like exited, once the run's status and log are settled. */
  private finished?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopping = false;
  private stopRequested?: () => void;
  private readonly backoff = new Backoff();
  private readonly pullBackoff = new Backoff();
  private prober?: Prober;
  /** Log file index of the current (or last) run; -1 before the first. */
  run = -1;
  private runDone = true;

  constructor(
    readonly spec: V1Container,
    readonly role: ContainerRole,
    private readonly ctx: PodContext,
  ) {
    this.state = { kind: 'waiting', reason: role === 'main' && (ctx.pod().spec?.initContainers?.length ?? 0) > 0 ? 'PodInitializing' : 'ContainerCreating' };
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.state.kind === 'running' && this.pid !== undefined;
  }

  logPath(run: number): string {
    return join(this.ctx.dir, 'logs', this.name, `${run}.log`);
  }

  /** Whether the given run has ended (for following its log). */
  runEnded(run: number): boolean {
    return run !== this.run || this.runDone;
  }

  private restartPolicy(): string {
    if (this.role === 'sidecar') return 'Always';
    return this.spec.restartPolicy ?? this.ctx.pod().spec?.restartPolicy ?? 'Always';
  }

  private set(state: State): void {
    this.state = state;
    this.ctx.changed();
  }

  /** Sleep, cut short by stop(). */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping) return resolve();
      const t = setTimeout(() => {
        this.stopRequested = undefined;
        resolve();
      }, ms);
      this.stopRequested = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /**
   * Run until done per restart policy: init containers until they succeed, main containers forever (Always), until
   * success (OnFailure) or once (Never).
   */
  async loop(): Promise<RunResult> {
    const policy = this.restartPolicy();
    while (!this.stopping) {
      const ok = await this.startOnce();
      if (this.stopping) break;
      if (!ok) continue; // waited in a back-off already
      const { code, signal } = await this.finished!;
      const exitCode = code ?? 128 + (signals[signal ?? ''] ?? 9);
      if (this.stopping) break;
      const succeeded = exitCode === 0;
      let restart: boolean;
      if (policy === 'Always') restart = true;
      else if (policy === 'OnFailure') restart = !succeeded;
      else restart = false;
      if (this.role === 'init' && succeeded) restart = false;
      if (!restart) return succeeded ? 'succeeded' : 'failed';
      const delay = this.backoff.next(Date.now());
      this.lastState = this.state;
      if (delay > 0) {
        const p = this.ctx.pod();
        this.set({
          kind: 'waiting',
          reason: 'CrashLoopBackOff',
          message: `back-off ${formatDuration(delay)} restarting failed container=${this.name} pod=${p.metadata?.name}_${p.metadata?.namespace}(${p.metadata?.uid})`,
        });
        this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} container ${this.name} back-off ${formatDuration(delay)} (exit ${exitCode})`);
        this.ctx.event('Warning', 'BackOff', `Back-off restarting failed container ${this.name} in pod ${p.metadata?.name}_${p.metadata?.namespace}(${p.metadata?.uid})`, this.name);
        await this.wait(delay);
      }
      if (this.stopping) break;
      this.restartCount++;
    }
    return 'stopped';
  }

  /** One attempt to start the process. False: it could not start (image, config, mounts); a back-off was waited. */
  private async startOnce(): Promise<boolean> {
    const pod = this.ctx.pod();
    let env: Record<string, string>;
    try {
      env = await this.ctx.env(this.spec);
    } catch (err) {
      const reason = err instanceof ContainerConfigError ? err.reason : 'CreateContainerConfigError';
      this.set({ kind: 'waiting', reason, message: errorMessage(err) });
      this.ctx.event('Warning', 'Failed', `Error: ${errorMessage(err)}`, this.name);
      this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} container ${this.name}: ${reason}: ${errorMessage(err)}`);
      await this.wait(Math.max(this.pullBackoff.next(Date.now()), 2000));
      return false;
    }
    const command = expandArgv(this.spec.command ?? [], env);
    const args = expandArgv(this.spec.args ?? [], env);
    const resolved = resolveCommand(this.ctx.images, { image: this.spec.image, command: this.spec.command ? command : undefined, args: this.spec.args ? args : undefined }, this.ctx.resolveContext);
    if (!resolved.ok) {
      this.set({ kind: 'waiting', reason: 'ErrImagePull', message: resolved.message });
      this.ctx.event('Warning', 'Failed', resolved.message, this.name);
      this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} container ${this.name}: ErrImagePull: ${resolved.message}`);
      // Kubernetes' image back-off (10s doubling), capped at 1m: a "pull" here is a file check, and a script that
      // gets built meanwhile should start soon.
      const delay = Math.min(Math.max(this.pullBackoff.next(Date.now()), 10_000), 60_000);
      await this.wait(5000);
      if (this.stopping) return false;
      const backoffMessage = `Back-off pulling image "${this.spec.image}": ${resolved.message}`;
      this.set({ kind: 'waiting', reason: 'ImagePullBackOff', message: backoffMessage });
      this.ctx.event('Normal', 'BackOff', `Back-off pulling image "${this.spec.image}"`, this.name);
      await this.wait(delay - 5000);
      return false;
    }
    let mounts: Mount[];
    try {
      mounts = this.ctx.volumes.mountsFor(this.spec, env);
      await prepareMountPoints(mounts, this.ctx.mountPoints, this.ctx.uid, this.ctx.dir);
    } catch (err) {
      const msg = errorMessage(err);
      this.set({ kind: 'waiting', reason: err instanceof VolumeError ? 'CreateContainerConfigError' : 'CreateContainerError', message: msg });
      this.ctx.event('Warning', 'Failed', `Error: ${msg}`, this.name);
      await this.wait(Math.max(this.pullBackoff.next(Date.now()), 2000));
      return false;
    }
    const cdir = join(this.ctx.dir, 'containers', this.name);
    await mkdir(cdir, { recursive: true });
    await mkdir(join(this.ctx.dir, 'logs', this.name), { recursive: true });
    const userDir = this.spec.workingDir ?? '';
    let workingDir = userDir;
    if (workingDir) {
      if (!mounts.some((m) => m.target === workingDir)) {
        const enclosing = enclosingMount(mounts, workingDir);
        if (enclosing) await mkdir(join(enclosing.source, workingDir.slice(enclosing.target.length)), { recursive: true });
        else await this.ctx.mountPoints.acquire(this.ctx.uid, workingDir, 'dir', this.ctx.dir);
      }
    } else {
      workingDir = join(cdir, 'cwd');
      await mkdir(workingDir, { recursive: true });
    }
    const launcher = join(cdir, 'launch.sh');
    await writeFile(launcher, launcherScript({ hostname: this.ctx.netns ? podHostnameOf(pod) : undefined, mounts, workingDir: userDir || undefined, defaultDir: workingDir }), { mode: 0o700 });
    const fullEnv: Record<string, string> = { PATH: basePath(), HOME: '/root', ...resolved.env, HOSTNAME: podHostnameOf(pod), ...env };
    const argv = this.ctx.netns
      ? ['ip', 'netns', 'exec', this.ctx.netns, 'unshare', '--uts', '--', '/bin/bash', launcher, ...resolved.argv]
      : ['unshare', '--mount', '--propagation', 'slave', '--', '/bin/bash', launcher, ...resolved.argv];

    this.ctx.event('Normal', 'Pulled', `Container image "${this.spec.image}" already present on machine`, this.name);
    this.ctx.event('Normal', 'Created', `Created container: ${this.name}`, this.name);
    if (this.stopping) return false;
    this.run = this.restartCount;
    this.runDone = false;
    const writer = new LogWriter(this.logPath(this.run));
    const proc = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: fullEnv, cwd: '/' });
    this.proc = proc;
    proc.stdout!.on('data', (d: Buffer) => writer.write('stdout', d));
    proc.stderr!.on('data', (d: Buffer) => writer.write('stderr', d));
    const startedAt = new Date();
    this.exited = new Promise((resolve) => {
      let settled = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (settled) return;
        settled = true;
        resolve({ code, signal });
      };
      proc.on('error', (err) => {
        writer.write('stderr', `${err.message}\n`);
        finish(127, null);
      });
      proc.on('exit', (code, signal) => finish(code, signal));
    });
    this.env = fullEnv;
    this.workingDir = workingDir;
    this.pid = proc.pid;
    const containerID = `ambit://${createHash('sha256').update(`${this.ctx.uid}/${this.name}/${this.run}/${randomBytes(8).toString('hex')}`).digest('hex')}`;
    this.containerID = containerID;
    this.finished = this.exited.then(async ({ code, signal }) => {
      this.prober?.stop();
      this.prober = undefined;
      // Whatever the container left behind in its process group goes with it.
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* group already empty */
      }
      // 'exit' can come before the last output has been read from the pipes: wait for both to close (bounded,
      // should a grandchild outside the group hold them) so the final lines reach the log before followers end.
      await stdioClosed(proc, 2000);
      await writer.close();
      this.runDone = true;
      this.pid = undefined;
      this.proc = undefined;
      this.ready = false;
      const exitCode = code ?? 128 + (signals[signal ?? ''] ?? 9);
      this.set({
        kind: 'terminated',
        exitCode,
        signal: signal ? signals[signal] : undefined,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: new Date(),
        containerID,
      });
      this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} container ${this.name} exited code=${exitCode}${signal ? ` signal=${signal}` : ''}`);
      return { code, signal };
    });
    if (proc.pid) await appendFile(join(this.ctx.dir, 'pids'), `${proc.pid} ${readProcStart(proc.pid) ?? ''}\n`).catch(() => undefined);
    this.ctx.event('Normal', 'Started', `Started container ${this.name}`, this.name);
    this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} started container ${this.name} pid=${proc.pid} ip=${this.ctx.podIP() ?? '-'}${this.restartCount ? ` restart=${this.restartCount}` : ''}`);
    // It may already have ended (or stop() may have come) while this run was being set up.
    if (this.runDone) return true;
    if (this.stopping) {
      await this.kill(0);
      return true;
    }
    this.backoff.started(Date.now());
    this.ready = false;
    this.started = !this.spec.startupProbe;
    this.set({ kind: 'running', startedAt });
    if (this.role !== 'init') {
      this.prober = new Prober(this, this.ctx);
      this.prober.start();
    }
    return true;
  }

  /** Liveness or startup probe failed: kill this run; the loop restarts it per policy. */
  async killForRestart(why: string, opts: { resetBackoff?: boolean } = {}): Promise<void> {
    if (opts.resetBackoff) this.backoff.reset();
    this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} container ${this.name} ${why}, will be restarted`);
    this.ctx.event('Normal', 'Killing', `Container ${this.name} ${why}, will be restarted`, this.name);
    await this.kill(this.graceMs());
  }

  private graceMs(): number {
    const grace = this.ctx.pod().spec?.terminationGracePeriodSeconds ?? 30;
    return Math.min(grace * 1000, this.ctx.maxGraceMs);
  }

  private async kill(graceMs: number): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.pid === undefined) return;
    const exited = this.finished!;
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (timedOut) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
    }
  }

  /** Stop for good: SIGTERM, up to the grace period, SIGKILL. */
  async stop(graceMs?: number): Promise<void> {
    this.stopping = true;
    this.stopRequested?.();
    if (this.running) {
      this.ctx.event('Normal', 'Killing', `Stopping container ${this.name}`, this.name);
      if (this.pid) {
        await runPreStop(this.spec, graceMs ?? this.graceMs(), { netns: this.ctx.netns, podIP: this.ctx.podIP() ?? '127.0.0.1', pid: this.pid, env: this.env, workingDir: this.workingDir });
      }
    }
    await this.kill(graceMs ?? this.graceMs());
    this.prober?.stop();
  }

  status(): V1ContainerStatus {
    const image = this.spec.image ?? '';
    const st: V1ContainerStatus = {
      name: this.name,
      image,
      imageID: `ambit://${image}`,
      ready: this.ready,
      started: this.state.kind === 'running' ? this.started : false,
      restartCount: this.restartCount,
      state: toApiState(this.state),
    };
    if (this.state.kind === 'running' && this.containerID) st.containerID = this.containerID;
    if (this.state.kind === 'terminated' && this.state.containerID) st.containerID = this.state.containerID;
    if (this.lastState) st.lastState = toApiState(this.lastState);
    return st;
  }
}

function podHostnameOf(pod: V1Pod): string {
  return (pod.spec?.hostname ?? pod.metadata?.name ?? 'pod').slice(0, 63);
}

function toApiState(s: State): V1ContainerState {
  switch (s.kind) {
    case 'waiting':
      return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
    case 'running':
      return { running: { startedAt: s.startedAt } };
    case 'terminated':
      return {
        terminated: {
          exitCode: s.exitCode,
          ...(s.signal ? { signal: s.signal } : {}),
          reason: s.reason,
          ...(s.message ? { message: s.message } : {}),
          ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          finishedAt: s.finishedAt,
          ...(s.containerID ? { containerID: s.containerID } : {}),
        },
      };
  }
}

/** Resolves once the child's stdout and stderr have both closed (everything written has been read), or after `ms`. */
function stdioClosed(proc: ChildProcess, ms: number): Promise<void> {
  const streams = [proc.stdout, proc.stderr].filter((s) => s && !s.closed);
  if (streams.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let left = streams.length;
    const timer = setTimeout(resolve, ms);
    for (const s of streams)
      s!.once('close', () => {
        if (--left === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
  });
}
