// The virtual node agent: registers the Node, watches the Pods bound to it, runs one PodWorker per Pod, writes
// their status, and serves exec/logs to the kubelet server through the ContainerRuntime interface.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ListWatch, Watch, type V1Pod, type V1PodStatus } from '@kubernetes/client-node';
import type { NodeConfig } from './config.js';
import type { ContainerRunner } from './container.js';
import { loadImageTable } from './images.js';
import { IpAllocator } from './ipam.js';
import { errorMessage, KubeClusterData, makeClients, mergePatch, statusCode, type Clients } from './kube.js';
import { KubeEventSink } from './events.js';
import { openLog } from './logfile.js';
import type { Log } from './log.js';
import { MountPoints } from './mountpoints.js';
import { cleanupPodRecord, PodWorker, type WorkerDeps } from './podworker.js';
import { NodeRegistration } from './registration.js';
import { ContainerNotRunningError, NotFoundError, type ContainerRef, type ContainerRuntime, type ExecIO, type LogOptions } from './runtime.js';
import { shQuote } from './sh.js';

/** Terminating pods get at most this long between SIGTERM and SIGKILL. */
export const maxGraceMs = 10_000;

/** Writes pods/status, coalescing bursts of changes and skipping unchanged statuses. */
export class StatusReporter {
  private readonly pending = new Map<string, PodWorker>();
  private readonly last = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private flushing = false;
  private disabled = false;

  constructor(
    private readonly write: (worker: PodWorker, status: V1PodStatus) => Promise<void>,
    private readonly log: Log,
  ) {}

  /** The agent is shutting down: like a stopped kubelet, it no longer reports what its teardown does to the pods. */
  disable(): void {
    this.disabled = true;
    if (this.timer) clearTimeout(this.timer);
    this.pending.clear();
  }

  schedule(w: PodWorker, delayMs = 100): void {
    if (this.disabled) return;
    this.pending.set(w.uid, w);
    if (!this.timer) this.timer = setTimeout(() => void this.flush(), delayMs);
  }

  forget(uid: string): void {
    this.pending.delete(uid);
    this.last.delete(uid);
  }

  async flush(): Promise<void> {
    this.timer = undefined;
    if (this.flushing) {
      this.timer = setTimeout(() => void this.flush(), 50);
      return;
    }
    this.flushing = true;
    const batch = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(
      batch.map(async (w) => {
        const status = w.status();
        const json = JSON.stringify(status);
        if (this.last.get(w.uid) === json) return;
        try {
          await this.write(w, status);
          this.last.set(w.uid, json);
        } catch (err) {
          const code = statusCode(err);
          if (code === 404) return;
          this.log(`pod ${w.namespace}/${w.name}: status update failed (${errorMessage(err)}); retrying`);
          this.schedule(w, 1000);
        }
      }),
    );
    this.flushing = false;
  }
}

export class NodeAgent implements ContainerRuntime {
  readonly clients: Clients;
  private readonly workers = new Map<string, PodWorker>();
  private readonly registration: NodeRegistration;
  private readonly reporter: StatusReporter;
  private readonly mountPoints = new MountPoints();
  private informer?: ListWatch<V1Pod>;
  private ipam?: IpAllocator;
  private podCIDR?: string;
  private stopping = false;

  constructor(
    readonly cfg: NodeConfig,
    private readonly log: Log,
  ) {
    this.clients = makeClients(cfg.kubeconfigPath);
    this.registration = new NodeRegistration(this.clients, { name: cfg.name, address: cfg.address, kubeletPort: cfg.kubeletPort, labels: cfg.labels, taints: cfg.taints }, log);
    this.reporter = new StatusReporter(async (w, status) => {
      const nulls = { podIP: null, podIPs: null, message: null, reason: null, initContainerStatuses: null };
      await this.clients.core.patchNamespacedPodStatus({ name: w.name, namespace: w.namespace, body: { status: { ...nulls, ...status } } }, mergePatch);
    }, log);
  }

  get cidr(): string | undefined {
    return this.podCIDR;
  }

  /** Clean leftovers, register, wait for the podCIDR, start watching pods. */
  async start(): Promise<void> {
    const images = loadImageTable(this.cfg.imagesFile);
    await this.cleanLeftovers();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.registration.register();
        break;
      } catch (err) {
        if (attempt >= 60 || this.stopping) throw err;
        if (attempt % 10 === 0) this.log(`node ${this.cfg.name}: registration failed (${errorMessage(err)}); retrying`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.registration.startHeartbeats();
    this.podCIDR = await this.registration.waitPodCIDR();
    this.ipam = new IpAllocator(this.podCIDR, [this.cfg.gateway]);
    this.registration.onReregistered = () => {
      void this.registration
        .waitPodCIDR()
        .then((cidr) => {
          if (cidr === this.podCIDR) return;
          // Running pods keep their addresses (the pod network is one /16 on the bridge); new ones use the new range.
          this.log(`node ${this.cfg.name} podCIDR changed ${this.podCIDR} -> ${cidr}`);
          this.podCIDR = cidr;
          this.ipam = new IpAllocator(cidr, [this.cfg.gateway]);
        })
        .catch((err: unknown) => this.log(`node ${this.cfg.name}: no podCIDR after re-registration: ${errorMessage(err)}`));
    };
    this.log(`node ${this.cfg.name} podCIDR ${this.podCIDR}`);
    const deps: WorkerDeps = {
      nodeName: this.cfg.name,
      hostIP: this.cfg.address,
      stateDir: this.cfg.stateDir,
      network: {
        netnsPrefix: this.cfg.netnsPrefix,
        bridge: this.cfg.bridge,
        gateway: this.cfg.gateway,
        prefix: this.cfg.podNetworkPrefix,
        clusterDNS: this.cfg.clusterDNS,
        clusterDomain: this.cfg.clusterDomain,
      },
      images,
      resolveContext: { repoRoot: this.cfg.repoRoot, binDir: this.cfg.binDir, nodeBinary: process.execPath },
      ipam: () => this.ipam!,
      mountPoints: this.mountPoints,
      data: new KubeClusterData(this.clients),
      log: this.log,
      maxGraceMs,
      events: new KubeEventSink(this.clients.core, this.cfg.name, this.log),
      reportStatus: (w) => this.reporter.schedule(w),
      deletePod: (pod) => this.deletePodObject(pod),
    };
    const fieldSelector = `spec.nodeName=${this.cfg.name}`;
    const listFn = () => this.clients.core.listPodForAllNamespaces({ fieldSelector });
    this.informer = new ListWatch<V1Pod>('/api/v1/pods', new Watch(this.clients.kc), listFn, false, undefined, fieldSelector);
    this.informer.on('add', (pod) => this.onPod(pod, deps));
    this.informer.on('update', (pod) => this.onPod(pod, deps));
    this.informer.on('delete', (pod) => this.onPodGone(pod));
    // ListWatch stops on errors other than 410/timeouts: start it again (a relist), with a small back-off.
    let restartDelay = 500;
    this.informer.on('connect', () => (restartDelay = 500));
    this.informer.on('error', (err) => {
      if (this.stopping) return;
      this.log(`pod watch error: ${errorMessage(err)}; relisting in ${restartDelay}ms`);
      setTimeout(() => {
        if (!this.stopping) void this.informer?.start().catch(() => undefined);
      }, restartDelay);
      restartDelay = Math.min(restartDelay * 2, 10_000);
    });
    await this.informer.start();
  }

  private async cleanLeftovers(): Promise<void> {
    const swept = await this.mountPoints.sweep().catch(() => []);
    if (swept.length) this.log(`removed mount points nobody uses any more: ${swept.join(', ')}`);
    const dir = join(this.cfg.stateDir, 'pods');
    if (!existsSync(dir)) return;
    for (const uid of await readdir(dir)) {
      const rec = await cleanupPodRecord(this.cfg.stateDir, uid, this.mountPoints, this.cfg.netnsPrefix);
      this.log(`cleaned leftovers of pod ${rec ? `${rec.namespace}/${rec.name}` : uid}`);
    }
  }

  private onPod(pod: V1Pod, deps: WorkerDeps): void {
    if (this.stopping) return;
    const uid = pod.metadata?.uid;
    if (!uid) return;
    let w = this.workers.get(uid);
    if (!w) {
      if (pod.metadata?.deletionTimestamp) {
        // Nothing of it runs here (e.g. the agent restarted): let it go.
        void this.deletePodObject(pod);
        return;
      }
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') return;
      w = new PodWorker(pod, deps);
      this.workers.set(uid, w);
      this.log(`pod ${w.namespace}/${w.name} assigned (uid ${uid})`);
      w.start();
      return;
    }
    w.update(pod);
    if (pod.metadata?.deletionTimestamp && !w.isTerminating) {
      const worker = w;
      void worker.terminate({ deleteObject: true, reason: 'deleted' }).finally(() => this.forget(worker));
    }
  }

  private onPodGone(pod: V1Pod): void {
    const w = this.workers.get(pod.metadata?.uid ?? '');
    if (!w) return;
    void w.terminate({ deleteObject: false, reason: 'object removed' }).finally(() => this.forget(w));
  }

  private forget(w: PodWorker): void {
    if (this.workers.get(w.uid) === w) this.workers.delete(w.uid);
    this.reporter.forget(w.uid);
  }

  private async deletePodObject(pod: V1Pod): Promise<void> {
    try {
      await this.clients.core.deleteNamespacedPod({
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid! } },
      });
    } catch (err) {
      const code = statusCode(err);
      if (code !== 404 && code !== 409) this.log(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: delete failed: ${errorMessage(err)}`);
    }
  }

  /** Tear down every pod (they stay bound to this node in the API) and stop watching. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.registration.stop();
    this.reporter.disable();
    await this.informer?.stop().catch(() => undefined);
    await Promise.all([...this.workers.values()].map((w) => w.terminate({ deleteObject: false, reason: 'node agent shutting down', graceMs: 5000 })));
    this.workers.clear();
  }

  // ContainerRuntime

  private locate(ref: ContainerRef): { worker: PodWorker; runner: ContainerRunner } {
    const candidates = [...this.workers.values()].filter((w) => w.namespace === ref.namespace && w.name === ref.pod);
    const worker = candidates.find((w) => !w.isTerminating) ?? candidates[0];
    if (!worker) throw new NotFoundError(`pod "${ref.pod}" in namespace "${ref.namespace}" not found on node ${this.cfg.name}`);
    const runner = ref.container ? worker.findContainer(ref.container) : worker.runners[0];
    if (!runner) throw new NotFoundError(`container "${ref.container}" in pod "${ref.pod}" not found`);
    return { worker, runner };
  }

  hasContainer(ref: ContainerRef): boolean {
    try {
      this.locate(ref);
      return true;
    } catch {
      return false;
    }
  }

  /** `io.signal` (the kubelet server's): the client went away, kill the command. */
  async exec(ref: ContainerRef, command: string[], io: ExecIO & { signal?: AbortSignal }): Promise<number> {
    const { worker, runner } = this.locate(ref);
    if (!runner.running || !runner.pid) throw new ContainerNotRunningError(`container "${runner.name}" in pod "${ref.pod}" is not running`);
    if (command.length === 0) throw new ContainerNotRunningError('no command given');
    const cmd = io.tty ? ['script', '-q', '-e', '-f', '-c', command.map(shQuote).join(' '), '/dev/null'] : command;
    const argv = ['nsenter', `--target=${runner.pid}`, '--mount', ...(worker.netns ? ['--net', '--uts'] : []), '--wd', '--', ...cmd];
    const env = { ...runner.env, ...(io.tty ? { TERM: 'xterm' } : {}) };
    return new Promise((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const onAbort = (): void => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      io.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout!.pipe(io.stdout as NodeJS.WritableStream, { end: false });
      child.stderr!.pipe(io.stderr as NodeJS.WritableStream, { end: false });
      if (io.stdin) {
        io.stdin.pipe(child.stdin!);
        child.stdin!.on('error', () => undefined);
      } else {
        child.stdin!.end();
      }
      child.on('error', (err) => {
        io.stderr.write(`${err.message}\n`);
        resolve(126);
      });
      child.on('close', (code, signal) => {
        io.signal?.removeEventListener('abort', onAbort);
        if (io.stdin) io.stdin.unpipe(child.stdin!);
        resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
      });
    });
  }

  async logs(ref: ContainerRef, opts: LogOptions): Promise<NodeJS.ReadableStream> {
    const { runner } = this.locate(ref);
    if (runner.run < 0) {
      const why = runner.status().state?.waiting?.reason ?? 'ContainerCreating';
      throw new ContainerNotRunningError(`container "${runner.name}" in pod "${ref.pod}" is waiting to start: ${why}`);
    }
    const run = opts.previous ? runner.run - 1 : runner.run;
    if (run < 0 || !existsSync(runner.logPath(run))) {
      throw new NotFoundError(`previous terminated container "${runner.name}" in pod "${ref.pod}" not found`);
    }
    return openLog(runner.logPath(run), opts, () => runner.runEnded(run));
  }

  async portForward(ref: { namespace: string; pod: string }, port: number): Promise<NodeJS.ReadWriteStream> {
    const candidates = [...this.workers.values()].filter((w) => w.namespace === ref.namespace && w.name === ref.pod && !w.isTerminating);
    const worker = candidates[0];
    if (!worker) throw new NotFoundError(`pod "${ref.pod}" in namespace "${ref.namespace}" not found on node ${this.cfg.name}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ContainerNotRunningError(`invalid port ${port}`);
    // bash's /dev/tcp from inside the pod's network namespace, its stdin/stdout spliced to the socket.
    const script = 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1; cat <&3 & cat >&3; wait';
    const argv = worker.netns ? ['nsenter', `--net=/run/netns/${worker.netns}`, '--', 'bash', '-c', script, String(port)] : ['bash', '-c', script, String(port)];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const stream = Duplex.from({ writable: child.stdin!, readable: child.stdout! });
    stream.on('close', () => child.kill('SIGKILL'));
    child.on('close', (code) => {
      if (code) stream.destroy(new Error(`port-forward to ${ref.namespace}/${ref.pod}:${port} failed: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`));
    });
    return stream;
  }

  /** For tests and the status of the node: the pods this agent runs. */
  pods(): Array<{ namespace: string; name: string; uid: string; ip?: string }> {
    return [...this.workers.values()].map((w) => ({ namespace: w.namespace, name: w.name, uid: w.uid, ip: w.podIP() }));
  }
}
