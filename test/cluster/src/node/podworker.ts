// One pod on this node, from sandbox to teardown: network namespace and IP, volumes, init containers in order,
// then the main containers; status on every change; teardown on deletion or agent shutdown.
import { existsSync, readFileSync } from 'node:fs';
import { readProcStart } from './sh.js';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { ContainerRunner, type PodContext, type RunResult } from './container.js';
import type { EventSink } from './events.js';
import { resolveEnv, type DataLookup } from './env.js';
import type { ImageTable, ResolveContext } from './images.js';
import type { IpAllocator } from './ipam.js';
import type { Log } from './log.js';
import type { MountPoints } from './mountpoints.js';
import { createSandbox, destroySandbox, hostVethName, netnsName, type Sandbox, type SandboxNetwork } from './sandbox.js';
import { buildPodStatus } from './status.js';
import { PodVolumes, VolumeError, type ClusterData } from './volumes.js';
import { errorMessage } from './kube.js';

export interface WorkerDeps {
  nodeName: string;
  hostIP: string;
  stateDir: string;
  network: SandboxNetwork;
  images: ImageTable;
  resolveContext: ResolveContext;
  ipam: () => IpAllocator;
  mountPoints: MountPoints;
  data: ClusterData;
  log: Log;
  maxGraceMs: number;
  events: EventSink;
  reportStatus(worker: PodWorker): void;
  deletePod(pod: V1Pod): Promise<void>;
}

/** What is left on disk about a pod, so a restarted agent can clean it up. */
export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netns?: string;
  hostVeth?: string;
}

export function podDir(stateDir: string, uid: string): string {
  return join(stateDir, 'pods', uid);
}

export class PodWorker implements PodContext {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly dir: string;
  readonly volumes: PodVolumes;
  readonly initRunners: ContainerRunner[];
  readonly runners: ContainerRunner[];
  private latest: V1Pod;
  private sandbox?: Sandbox;
  private ip?: string;
  private sandboxReady = false;
  private initDone = false;
  private terminal?: 'Succeeded' | 'Failed';
  private readonly startTime = new Date();
  private terminating?: Promise<void>;
  private stopping = false;
  private mainDone?: Promise<void>;
  private volumeTimer?: NodeJS.Timeout;
  private sandboxTimer?: NodeJS.Timeout;
  private repairing = false;
  private readonly hostNetwork: boolean;
  private readonly lookup: DataLookup;

  constructor(
    pod: V1Pod,
    private readonly deps: WorkerDeps,
  ) {
    this.latest = pod;
    this.uid = pod.metadata!.uid!;
    this.namespace = pod.metadata!.namespace!;
    this.name = pod.metadata!.name!;
    this.dir = podDir(deps.stateDir, this.uid);
    this.hostNetwork = !!pod.spec?.hostNetwork;
    this.volumes = new PodVolumes(pod, join(this.dir, 'volumes'), deps.data, () => this.runtimeInfo());
    this.initRunners = (pod.spec?.initContainers ?? []).map((c) => new ContainerRunner(c, c.restartPolicy === 'Always' ? 'sidecar' : 'init', this));
    this.runners = (pod.spec?.containers ?? []).map((c) => new ContainerRunner(c, 'main', this));
    const toStr = (m: Record<string, Buffer> | undefined): Record<string, string> | undefined =>
      m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.toString('utf8')])) : undefined;
    this.lookup = {
      configMap: async (name) => toStr(await deps.data.configMap(this.namespace, name)),
      secret: async (name) => toStr(await deps.data.secret(this.namespace, name)),
      services: async () => (deps.data.services ? deps.data.services(this.namespace) : []),
    };
  }

  // PodContext
  pod(): V1Pod {
    return this.latest;
  }
  get netns(): string | undefined {
    return this.sandbox?.netns;
  }
  podIP(): string | undefined {
    return this.ip;
  }
  get hostIP(): string {
    return this.deps.hostIP;
  }
  get images(): ImageTable {
    return this.deps.images;
  }
  get resolveContext(): ResolveContext {
    return this.deps.resolveContext;
  }
  get mountPoints(): MountPoints {
    return this.deps.mountPoints;
  }
  get log(): Log {
    return this.deps.log;
  }
  get maxGraceMs(): number {
    return this.deps.maxGraceMs;
  }
  env(container: V1Container): Promise<Record<string, string>> {
    return resolveEnv(this.latest, container, this.runtimeInfo(), this.lookup);
  }
  changed(): void {
    this.deps.reportStatus(this);
  }
  event(type: 'Normal' | 'Warning', reason: string, message: string, container?: string): void {
    this.deps.events.emit(this.latest, type, reason, message, container);
  }

  private runtimeInfo(): { podIP?: string; hostIP: string; nodeName: string } {
    return { podIP: this.ip, hostIP: this.deps.hostIP, nodeName: this.deps.nodeName };
  }

  get isTerminating(): boolean {
    return this.stopping;
  }

  update(pod: V1Pod): void {
    if (pod.metadata?.uid !== this.uid) return;
    this.latest = pod;
  }

  findContainer(name: string): ContainerRunner | undefined {
    return this.runners.find((r) => r.name === name) ?? this.initRunners.find((r) => r.name === name);
  }

  status(): V1PodStatus {
    return buildPodStatus({
      pod: this.latest,
      podIP: this.ip,
      hostIP: this.deps.hostIP,
      startTime: this.startTime,
      sandboxReady: this.sandboxReady,
      initDone: this.initDone,
      terminal: this.terminal,
      initStatuses: this.initRunners.map((r) => r.status()),
      statuses: this.runners.map((r) => r.status()),
      sidecars: this.initRunners.filter((r) => r.role === 'sidecar').map((r) => r.name),
    });
  }

  private async record(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const rec: PodRecord = { uid: this.uid, namespace: this.namespace, name: this.name, netns: this.sandbox?.netns, hostVeth: this.sandbox?.hostVeth };
    await writeFile(join(this.dir, 'pod.json'), JSON.stringify(rec));
  }

  private readonly wakers = new Set<() => void>();

  /** Sleep, cut short when the pod is being stopped. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  /** Bring the pod up and keep it running until it ends or is stopped. */
  start(): void {
    this.mainDone = this.main().catch((err: Error) => {
      this.deps.log(`pod ${this.namespace}/${this.name} failed: ${err.stack ?? err.message}`);
    });
  }

  private async main(): Promise<void> {
    this.changed();
    await mkdir(this.dir, { recursive: true });
    await this.record();
    // Sandbox.
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        if (this.hostNetwork) {
          this.ip = this.deps.hostIP;
        } else {
          this.ip = this.deps.ipam().allocate(this.uid);
          // Record the names before creating, so a crash in between still gets cleaned up.
          this.sandbox = { netns: netnsName(this.uid, this.deps.network.netnsPrefix), hostVeth: hostVethName(this.uid), ip: this.ip };
          await this.record();
          this.sandbox = await createSandbox(this.latest, this.ip, this.deps.network);
        }
        this.sandboxReady = true;
        this.deps.log(`pod ${this.namespace}/${this.name} sandbox ${this.sandbox ? `netns=${this.sandbox.netns} veth=${this.sandbox.hostVeth}` : 'hostNetwork'} ip=${this.ip}`);
        this.changed();
        break;
      } catch (err) {
        this.deps.log(`pod ${this.namespace}/${this.name} sandbox failed: ${errorMessage(err)}`);
        this.event('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${errorMessage(err)}`);
        if (this.ip && !this.hostNetwork) this.deps.ipam().release(this.ip);
        this.ip = undefined;
        this.sandbox = undefined;
        await this.sleep(Math.min(1000 * 2 ** attempt, 30_000));
      }
    }
    // Volumes (ConfigMaps, Secrets and tokens may not exist yet: retry).
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        await this.volumes.sync();
        break;
      } catch (err) {
        const msg = errorMessage(err);
        if (attempt === 0 || attempt % 10 === 0) {
          this.deps.log(`pod ${this.namespace}/${this.name} volumes not ready: ${msg}`);
          this.event('Warning', 'FailedMount', `MountVolume.SetUp failed: ${msg}`);
        }
        if (!(err instanceof VolumeError)) this.deps.log(`pod ${this.namespace}/${this.name} volume error: ${(err as Error).stack}`);
        await this.sleep(Math.min(500 * 2 ** attempt, 10_000));
      }
    }
    this.sandboxTimer = setInterval(() => void this.checkSandbox(), 5000);
    this.volumeTimer = setInterval(() => {
      if (!this.stopping) void this.volumes.sync().catch(() => undefined);
    }, 30_000);
    // Init containers, in order; sidecars (restartPolicy Always) keep running once started.
    for (const r of this.initRunners) {
      if (this.stopping) return;
      if (r.role === 'sidecar') {
        const done = r.loop();
        while (!this.stopping && !(r.running && r.started)) {
          const settled = await Promise.race([done.then(() => true), this.sleep(100).then(() => false)]);
          if (settled) break;
        }
        continue;
      }
      const result = await r.loop();
      if (result === 'stopped') return;
      if (result === 'failed') {
        this.terminal = 'Failed';
        this.changed();
        this.deps.log(`pod ${this.namespace}/${this.name} init container ${r.name} failed: pod Failed`);
        await this.finish();
        return;
      }
    }
    if (this.stopping) return;
    this.initDone = true;
    for (const r of this.runners) r.state = { kind: 'waiting', reason: 'ContainerCreating' };
    this.changed();
    const results: RunResult[] = await Promise.all(this.runners.map((r) => r.loop()));
    if (this.stopping || results.includes('stopped')) return;
    const policy = this.latest.spec?.restartPolicy ?? 'Always';
    this.terminal = results.every((x) => x === 'succeeded') ? 'Succeeded' : policy === 'Never' ? 'Failed' : 'Succeeded';
    this.deps.log(`pod ${this.namespace}/${this.name} completed: ${this.terminal}`);
    await this.finish();
  }

  /**
   * The network namespace was removed under the pod (someone ran `ip netns delete`): like the kubelet, re-create
   * the sandbox with the same address and restart the containers in it.
   */
  private async checkSandbox(): Promise<void> {
    const sb = this.sandbox;
    if (!sb || this.stopping || this.repairing || this.terminal || existsSync(join('/run/netns', sb.netns))) return;
    this.repairing = true;
    try {
      this.deps.log(`pod ${this.namespace}/${this.name} sandbox ${sb.netns} disappeared: re-creating it`);
      this.event('Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      await destroySandbox(sb);
      this.sandbox = await createSandbox(this.latest, sb.ip, this.deps.network);
      const running = [...this.initRunners, ...this.runners].filter((r) => r.running);
      await Promise.all(running.map((r) => r.killForRestart('sandbox changed', { resetBackoff: true })));
    } catch (err) {
      this.deps.log(`pod ${this.namespace}/${this.name} sandbox re-creation failed: ${errorMessage(err)}`);
    } finally {
      this.repairing = false;
    }
  }

  /** The pod ended by itself: stop sidecars and release the sandbox, keep the status. */
  private async finish(): Promise<void> {
    await Promise.all(this.initRunners.map((r) => r.stop()));
    this.sandboxReady = false;
    await this.teardown();
    this.changed();
  }

  private async teardown(): Promise<void> {
    if (this.volumeTimer) clearInterval(this.volumeTimer);
    if (this.sandboxTimer) clearInterval(this.sandboxTimer);
    if (this.sandbox) {
      await destroySandbox(this.sandbox);
      if (this.ip) this.deps.ipam().release(this.ip);
    }
    await this.deps.mountPoints.release(this.uid);
  }

  /**
   * Stop every container (SIGTERM, grace, SIGKILL) and remove the sandbox, mount points and state. When the Pod
   * object is being deleted, delete it for good afterwards (grace 0), so it disappears.
   */
  terminate(opts: { deleteObject: boolean; graceMs?: number; reason: string }): Promise<void> {
    if (!this.terminating) {
      this.stopping = true;
      for (const wake of [...this.wakers]) wake();
      this.terminating = (async () => {
        this.deps.log(`pod ${this.namespace}/${this.name} stopping (${opts.reason})`);
        const all = [...this.runners, ...[...this.initRunners].reverse()];
        await Promise.all(all.map((r) => r.stop(opts.graceMs)));
        await this.mainDone;
        await this.teardown();
        await rm(this.dir, { recursive: true, force: true });
        this.deps.log(`pod ${this.namespace}/${this.name} removed`);
        if (opts.deleteObject) await this.deps.deletePod(this.latest);
      })();
    }
    return this.terminating;
  }
}

/** Kill whatever a previous agent left behind for one pod, from its record on disk. */
export async function cleanupPodRecord(stateDir: string, uid: string, mountPoints: MountPoints, netnsPrefix = 'ambit-'): Promise<PodRecord | undefined> {
  const dir = podDir(stateDir, uid);
  let rec: PodRecord | undefined;
  try {
    rec = JSON.parse(readFileSync(join(dir, 'pod.json'), 'utf8')) as PodRecord;
  } catch {
    rec = undefined;
  }
  const pidFiles = join(dir, 'pids');
  if (existsSync(pidFiles)) {
    for (const line of readFileSync(pidFiles, 'utf8').split('\n')) {
      const [pid, start] = line.split(' ');
      if (!pid || !start) continue;
      if (readProcStart(Number(pid)) === start) {
        try {
          process.kill(-Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }
  await destroySandbox({ netns: rec?.netns ?? netnsName(uid, netnsPrefix), hostVeth: rec?.hostVeth ?? hostVethName(uid) });
  await mountPoints.release(uid);
  await rm(dir, { recursive: true, force: true });
  return rec;
}
