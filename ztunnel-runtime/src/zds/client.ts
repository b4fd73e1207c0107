// ztunnel's side of ZDS: connects to the node agent's socket (retrying with backoff while it is not there), says
// hello, applies each add (a pod and its netns fd) / del through the hooks, one message at a time, and acks each.
// After a snapshot it drops the pods it served before that the agent no longer has (the agent restarted while a pod
// went away). Losing the connection changes nothing for the pods being served: traffic keeps flowing while it
// reconnects.
import { Netns } from '../inpod/netns.js';
import { Backoff, logger, type LevelLogger } from '@ambit/mesh-api';
import { SeqpacketConnection, type Frame } from './connection.js';
import { Poller } from './poller.js';
import { type AgentMessage, type WorkloadInfo, ZDS_VERSION, decodeAgentMessage, encode } from './protocol.js';
import { closeFd, connectSeqpacket } from './sys.js';

export interface ZdsClientHooks {
  /** Start serving the pod. The client owns `netns` and closes it after onPodRemoved (or when this throws). */
  onPodAdded(info: WorkloadInfo, netns: Netns): Promise<void>;
  onPodRemoved(uid: string): Promise<void>;
}

export interface ZdsClientOptions {
  socketPath: string;
  hooks: ZdsClientHooks;
  log?: LevelLogger;
  /** First reconnect delay (default 500 ms); doubles up to 15 s, back to the start after a connection. */
  retryMs?: number;
}

const MAX_RETRY_MS = 15_000;

export class ZdsClient {
  readonly #opts: ZdsClientOptions;
  readonly #log: LevelLogger;
  readonly #poller = Poller.shared;
  readonly #pods = new Map<string, { info: WorkloadInfo; netns: Netns }>();
  #conn: SeqpacketConnection | undefined;
  /** Pods added on the current connection before its snapshotSent. */
  #snapshot: Set<string> | undefined;
  #work: Promise<void> = Promise.resolve();
  readonly #backoff: Backoff;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;
  #unreachableLogged = false;
  readonly #firstConnect = deferred();
  readonly #firstSnapshot = deferred();

  constructor(opts: ZdsClientOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? logger('inpod::statemanager');
    this.#backoff = new Backoff({ initialMs: opts.retryMs ?? 500, maxMs: MAX_RETRY_MS });
  }

  /** Connects; resolves once connected (or stopped), retrying with backoff while the agent is not there. */
  async start(): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      this.#connect();
    }
    await this.#firstConnect.promise;
  }

  /** Resolves once the first snapshot (every pod the agent knows) has been applied: ztunnel's readiness. */
  snapshotApplied(): Promise<void> {
    return this.#firstSnapshot.promise;
  }

  /** Pods being served (uid -> info). */
  pods(): WorkloadInfo[] {
    return [...this.#pods.values()].map((p) => p.info);
  }

  get connected(): boolean {
    return this.#conn?.open ?? false;
  }

  /** Disconnects, stops reconnecting, and removes every pod (onPodRemoved, then its netns fd is closed). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#conn?.close();
    this.#firstConnect.resolve();
    await this.#work;
    for (const uid of [...this.#pods.keys()]) await this.#remove(uid).catch(() => undefined);
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    let fd: number;
    try {
      fd = connectSeqpacket(this.#opts.socketPath);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const delay = this.#backoff.next();
      const line = `node agent not reachable at ${this.#opts.socketPath} (${why}), retrying in ${delay}ms`;
      if (this.#unreachableLogged) this.#log.debug(line);
      else this.#log.warn(line, `pods=${this.#pods.size}`);
      this.#unreachableLogged = true;
      this.#timer = setTimeout(() => this.#connect(), delay);
      return;
    }
    const conn: SeqpacketConnection = new SeqpacketConnection(fd, this.#poller, {
      onFrame: (f) => this.#enqueue(conn, f),
      onClose: (reason) => this.#lost(conn, reason),
    });
    this.#conn = conn;
    this.#snapshot = new Set();
    this.#unreachableLogged = false;
    conn.send(encode({ type: 'hello', version: ZDS_VERSION }));
    this.#log.info('handling new stream', `socket=${this.#opts.socketPath}`);
    this.#firstConnect.resolve();
  }

  #lost(conn: SeqpacketConnection, reason: string | undefined): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    this.#snapshot = undefined;
    if (this.#stopped) return;
    this.#log.warn(`lost the node agent connection${reason ? ` (${reason})` : ''}; still serving ${this.#pods.size} pods, reconnecting`);
    // The delay the next failure would wait, without counting one: a lost connection is not a failed connect.
    this.#timer = setTimeout(() => this.#connect(), this.#backoff.peek());
  }

  #enqueue(conn: SeqpacketConnection, frame: Frame): void {
    this.#work = this.#work
      .then(() => this.#handle(conn, frame))
      .catch((e: unknown) => this.#log.error(`handling a node agent message failed: ${(e as Error).message}`));
  }

  #ack(conn: SeqpacketConnection, error?: string): void {
    conn.send(encode(error ? { type: 'ack', error } : { type: 'ack' }));
  }

  async #handle(conn: SeqpacketConnection, frame: Frame): Promise<void> {
    if (!conn.open) {
      // The agent counts everything unacked on a closed connection as failed and replays it on the next one.
      for (const fd of frame.fds) closeFd(fd);
      return;
    }
    if (frame.truncated) {
      for (const fd of frame.fds) closeFd(fd);
      this.#log.warn('dropping a node agent message over the size limit', `bytes>${frame.data.length}`);
      this.#ack(conn, 'message over the size limit');
      return;
    }
    let msg: AgentMessage;
    try {
      msg = decodeAgentMessage(frame.data);
    } catch (e) {
      for (const fd of frame.fds) closeFd(fd);
      this.#log.warn(`dropping a malformed node agent message: ${(e as Error).message}`);
      this.#ack(conn, `malformed message: ${(e as Error).message}`);
      return;
    }
    // An add carries exactly one fd; anything beyond that (or any fd on another message) is closed.
    const fd = msg.type === 'add' ? frame.fds[0] : undefined;
    for (const x of frame.fds) if (x !== fd) closeFd(x);
    switch (msg.type) {
      case 'add':
        return this.#add(conn, { uid: msg.uid, ...msg.workload }, fd);
      case 'del':
        return this.#del(conn, msg.uid);
      case 'snapshotSent':
        return this.#snapshotSent(conn);
    }
  }

  async #add(conn: SeqpacketConnection, info: WorkloadInfo, fd: number | undefined): Promise<void> {
    const fields = `uid=${info.uid} name=${info.name} namespace=${info.namespace}`;
    if (fd === undefined) {
      this.#log.warn('dropping an add without a netns fd', fields);
      this.#ack(conn, 'add carries no netns fd');
      return;
    }
    let netns: Netns;
    try {
      netns = Netns.fromFd(fd, `zds:${info.uid}`);
    } catch (e) {
      this.#log.warn(`dropping an add: ${(e as Error).message}`, fields);
      this.#ack(conn, (e as Error).message);
      return;
    }
    this.#snapshot?.add(info.uid);
    const existing = this.#pods.get(info.uid);
    if (existing && existing.netns.inode === netns.inode) {
      netns.close(); // the same pod again (a snapshot after a reconnect): keep serving it as it is
      existing.info = info;
      this.#log.debug('pod already served', fields);
      this.#ack(conn);
      return;
    }
    if (existing) {
      this.#log.info('pod netns replaced, restarting proxy', fields);
      await this.#remove(info.uid).catch(() => undefined);
    }
    this.#log.info(`pod received, starting proxy ${fields}`);
    try {
      await this.#opts.hooks.onPodAdded(info, netns);
    } catch (e) {
      netns.close();
      this.#log.warn(`failed to start proxy: ${(e as Error).message}`, fields);
      this.#ack(conn, (e as Error).message);
      return;
    }
    this.#pods.set(info.uid, { info, netns });
    this.#ack(conn);
  }

  async #del(conn: SeqpacketConnection, uid: string): Promise<void> {
    const entry = this.#pods.get(uid);
    this.#snapshot?.delete(uid);
    this.#log.info(`pod delete request, draining proxy uid=${uid}${entry ? ` name=${entry.info.name} namespace=${entry.info.namespace}` : ''}`);
    try {
      await this.#remove(uid);
      this.#ack(conn);
    } catch (e) {
      this.#ack(conn, (e as Error).message);
    }
  }

  async #snapshotSent(conn: SeqpacketConnection): Promise<void> {
    const kept = this.#snapshot ?? new Set<string>();
    this.#snapshot = undefined;
    this.#log.info('pod received snapshot sent', `pods=${kept.size}`);
    for (const [uid, { info }] of [...this.#pods]) {
      if (kept.has(uid)) continue;
      this.#log.info('pod not in the snapshot, draining proxy', `uid=${uid} name=${info.name} namespace=${info.namespace}`);
      await this.#remove(uid).catch((e: Error) => this.#log.warn(`stopping proxy uid=${uid}: ${e.message}`));
    }
    this.#firstSnapshot.resolve();
    this.#backoff.reset(); // a working agent: the next outage starts the backoff again
    this.#ack(conn);
  }

  async #remove(uid: string): Promise<void> {
    const entry = this.#pods.get(uid);
    if (!entry) return;
    this.#pods.delete(uid);
    try {
      await this.#opts.hooks.onPodRemoved(uid);
    } finally {
      entry.netns.close();
    }
  }
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
