// The node agent's side of ZDS: listens on the Unix socket ztunnel connects to, remembers every pod it was told
// about (with a dup of its netns fd), replays them to each ztunnel that connects (then `snapshotSent`), and sends new
// adds to the newest connection. Older connections (a ztunnel being replaced during a rollout) keep what they have;
// they only hear about deletions of pods they were sent. One request in flight per connection; acks come in order.
import fs from 'node:fs';
import path from 'node:path';
import type { Netns } from '../inpod/netns.js';
import { logger, type LevelLogger } from '@ambit/mesh-api';
import { SeqpacketConnection, type Frame } from './connection.js';
import { Poller } from './poller.js';
import { type AgentMessage, type WorkloadInfo, ZDS_VERSION, checkWorkloadInfo, decodeZtunnelMessage, encode } from './protocol.js';
import { acceptSeqpacket, closeFd, dupFd, listenSeqpacket } from './sys.js';

/** No ztunnel is connected: the pod is remembered and sent to the next ztunnel that connects. */
export class ZdsNotConnectedError extends Error {
  constructor(message = 'no ztunnel is connected to the node agent') {
    super(message);
    this.name = 'ZdsNotConnectedError';
  }
}

export interface ZdsServerOptions {
  socketPath: string;
  log?: LevelLogger;
  /** Socket file mode (default 0600: only root, which both DaemonSets run as). */
  mode?: number;
  /**
   * A ztunnel that leaves a message unacknowledged this long (default 60 s) is disconnected: acks are matched by
   * order, so one lost ack would stall every later pod. It reconnects and gets the snapshot again.
   */
  ackTimeoutMs?: number;
}

interface Request {
  msg: AgentMessage;
  fd?: number;
  resolve(): void;
  reject(e: Error): void;
}

/** One ztunnel. */
class Peer {
  hello = false;
  snapshotAcked = false;
  /** Pods this ztunnel was sent (and not told to delete). */
  readonly uids = new Set<string>();
  readonly #queue: Request[] = [];
  #inFlight: Request | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  /** Why the connection was closed by us, if it was. */
  closeReason: string | undefined;
  readonly conn: SeqpacketConnection;

  constructor(
    readonly id: number,
    fd: number,
    private readonly ackTimeoutMs: number,
    poller: Poller,
    onFrame: (p: Peer, f: Frame) => void,
    onClose: (p: Peer, reason?: string) => void,
  ) {
    this.conn = new SeqpacketConnection(fd, poller, { onFrame: (f) => onFrame(this, f), onClose: (r) => onClose(this, r) });
  }

  request(msg: AgentMessage, fd?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.conn.open) return reject(new ZdsNotConnectedError());
      // Our own dup, closed once sent: the pod may be removed or re-added (its fd closed) while this waits in line.
      this.#queue.push({ msg, ...(fd !== undefined ? { fd: dupFd(fd) } : {}), resolve, reject });
      this.#next();
    });
  }

  acked(error: string | undefined): boolean {
    const r = this.#inFlight;
    if (!r) return false;
    this.#inFlight = undefined;
    clearTimeout(this.#ackTimer);
    if (error) r.reject(new Error(error));
    else r.resolve();
    this.#next();
    return true;
  }

  failAll(): void {
    const all = [...(this.#inFlight ? [this.#inFlight] : []), ...this.#queue.splice(0)];
    this.#inFlight = undefined;
    clearTimeout(this.#ackTimer);
    for (const r of all) {
      release(r);
      r.reject(new ZdsNotConnectedError(this.closeReason ?? 'the ztunnel connection closed before it acknowledged'));
    }
  }

  #next(): void {
    if (this.#inFlight || this.#queue.length === 0 || !this.conn.open) return;
    const r = this.#queue.shift()!;
    this.#inFlight = r;
    this.#ackTimer = setTimeout(() => {
      this.closeReason = `ztunnel did not acknowledge ${r.msg.type} within ${this.ackTimeoutMs}ms; disconnected it`;
      this.conn.close();
    }, this.ackTimeoutMs);
    this.#ackTimer.unref();
    // A failed send closes the connection, and onClose -> failAll rejects r and the rest.
    this.conn.send(encode(r.msg), r.fd !== undefined ? [r.fd] : []);
    release(r);
  }
}

function release(r: Request): void {
  if (r.fd !== undefined) closeFd(r.fd);
  delete r.fd;
}

export class ZdsServer {
  readonly #socketPath: string;
  readonly #log: LevelLogger;
  readonly #mode: number;
  readonly #ackTimeoutMs: number;
  readonly #poller = Poller.shared;
  /** uid -> what to replay, with our own dup of the pod's netns fd. */
  readonly #pods = new Map<string, { info: WorkloadInfo; fd: number }>();
  readonly #peers: Peer[] = [];
  #listenFd = -1;
  #nextId = 1;

  constructor(opts: ZdsServerOptions) {
    this.#socketPath = opts.socketPath;
    this.#log = opts.log ?? logger('cni::ztunnelserver');
    this.#mode = opts.mode ?? 0o600;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 60_000;
  }

  /** Removes a stale socket file, listens, accepts ztunnels. */
  async start(): Promise<void> {
    if (this.#listenFd >= 0) return;
    const p = this.#socketPath;
    fs.mkdirSync(path.dirname(p), { recursive: true });
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      st = undefined;
    }
    if (st && !st.isSocket()) throw new Error(`ZDS socket path ${p} exists and is not a socket; remove it or choose another ZDS_SOCKET`);
    if (st) fs.unlinkSync(p); // left behind by an agent that did not exit cleanly
    this.#listenFd = listenSeqpacket(p, 16, () => fs.chmodSync(p, this.#mode));
    this.#poller.watch(this.#listenFd, () => this.#accept());
    this.#log.info(`listening for ztunnel on ${p}`);
  }

  async stop(): Promise<void> {
    if (this.#listenFd >= 0) {
      this.#poller.unwatchAndClose(this.#listenFd);
      this.#listenFd = -1;
      try {
        fs.unlinkSync(this.#socketPath);
      } catch {
        // already gone
      }
    }
    for (const peer of [...this.#peers]) peer.conn.close();
    for (const { fd } of this.#pods.values()) closeFd(fd);
    this.#pods.clear();
  }

  /** Connected ztunnels (hello received): 2 during a rollout. */
  get ztunnels(): number {
    return this.#peers.filter((p) => p.hello && p.conn.open).length;
  }

  /** A ztunnel is connected and has acknowledged the snapshot. */
  get connected(): boolean {
    return this.#newest()?.snapshotAcked ?? false;
  }

  /**
   * Remembers the pod (sent again to every ztunnel that connects later) and sends it to the newest ztunnel with its
   * netns fd; resolves on that ztunnel's ack. Rejects with ZdsNotConnectedError when none is connected (the pod stays
   * remembered) or with the ztunnel's error. `netns` stays the caller's: the server keeps its own dup of the fd.
   */
  async addWorkload(info: WorkloadInfo, netns: Netns): Promise<void> {
    checkWorkloadInfo(info);
    const fd = dupFd(netns.fd);
    const old = this.#pods.get(info.uid);
    if (old) closeFd(old.fd);
    this.#pods.set(info.uid, { info: { ...info }, fd });
    const peer = this.#newest();
    if (!peer) throw new ZdsNotConnectedError();
    await this.#sendAdd(peer, info, fd);
  }

  /**
   * Forgets the pod and tells every connected ztunnel that was sent it; resolves when they have acknowledged (at
   * once when none is connected: the next snapshot simply does not contain it). Rejects with a ztunnel's error.
   */
  async removeWorkload(uid: string): Promise<void> {
    const pod = this.#pods.get(uid);
    this.#pods.delete(uid);
    if (pod) closeFd(pod.fd);
    const peers = this.#peers.filter((p) => p.hello && p.uids.has(uid));
    const results = await Promise.allSettled(
      peers.map(async (p) => {
        p.uids.delete(uid);
        await p.request({ type: 'del', uid });
      }),
    );
    for (const r of results) {
      if (r.status === 'rejected' && !(r.reason instanceof ZdsNotConnectedError)) {
        throw new Error(`ztunnel failed to remove pod uid=${uid}: ${(r.reason as Error).message}`);
      }
    }
  }

  #newest(): Peer | undefined {
    for (let i = this.#peers.length - 1; i >= 0; i--) if (this.#peers[i]!.hello && this.#peers[i]!.conn.open) return this.#peers[i];
    return undefined;
  }

  async #sendAdd(peer: Peer, info: WorkloadInfo, fd: number): Promise<void> {
    const { uid, ...workload } = info;
    peer.uids.add(uid);
    try {
      await peer.request({ type: 'add', uid, workload }, fd);
    } catch (e) {
      if (e instanceof ZdsNotConnectedError) throw e;
      peer.uids.delete(uid);
      throw new Error(`ztunnel rejected pod uid=${uid} name=${info.name} namespace=${info.namespace}: ${(e as Error).message}`);
    }
  }

  #accept(): void {
    for (;;) {
      let fd: number;
      try {
        fd = acceptSeqpacket(this.#listenFd);
      } catch (e) {
        this.#log.warn(`accepting a ztunnel connection failed: ${(e as Error).message}`);
        return;
      }
      if (fd < 0) return;
      const peer = new Peer(this.#nextId++, fd, this.#ackTimeoutMs, this.#poller, (p, f) => this.#frame(p, f), (p, r) => this.#closed(p, r));
      this.#peers.push(peer);
      this.#log.debug('ztunnel connected, waiting for hello', `conn=${peer.id}`);
    }
  }

  #frame(peer: Peer, frame: Frame): void {
    for (const fd of frame.fds) closeFd(fd); // ztunnel never sends fds
    if (frame.truncated) {
      this.#log.warn(`dropping a ztunnel message over the size limit`, `conn=${peer.id} bytes>${frame.data.length}`);
      return;
    }
    let msg;
    try {
      msg = decodeZtunnelMessage(frame.data);
    } catch (e) {
      this.#log.warn(`dropping a malformed ztunnel message: ${(e as Error).message}`, `conn=${peer.id}`);
      return;
    }
    if (msg.type === 'hello') {
      if (peer.hello) {
        this.#log.warn('dropping a second hello', `conn=${peer.id}`);
        return;
      }
      if (msg.version !== ZDS_VERSION) {
        this.#log.error(`ztunnel speaks ZDS version ${msg.version}, this agent only ${ZDS_VERSION}; closing the connection`, `conn=${peer.id}`);
        peer.conn.close();
        return;
      }
      peer.hello = true;
      this.#sendSnapshot(peer);
      return;
    }
    if (!peer.acked(msg.error)) this.#log.warn('dropping an ack with no request outstanding', `conn=${peer.id}`);
  }

  #sendSnapshot(peer: Peer): void {
    const pods = [...this.#pods.values()];
    this.#log.info('ztunnel connected, sending snapshot', `conn=${peer.id} pods=${pods.length}`);
    for (const { info, fd } of pods) {
      this.#sendAdd(peer, info, fd).catch((e: Error) => {
        if (!(e instanceof ZdsNotConnectedError)) this.#log.warn(e.message, `conn=${peer.id}`);
      });
    }
    peer.request({ type: 'snapshotSent' }).then(
      () => {
        peer.snapshotAcked = true;
        this.#log.info('ztunnel applied the snapshot', `conn=${peer.id} pods=${pods.length}`);
      },
      (e: Error) => this.#log.warn(`snapshot not applied: ${e.message}`, `conn=${peer.id}`),
    );
  }

  #closed(peer: Peer, reason: string | undefined): void {
    const i = this.#peers.indexOf(peer);
    if (i >= 0) this.#peers.splice(i, 1);
    peer.failAll();
    if (peer.closeReason) this.#log.warn(peer.closeReason, `conn=${peer.id}`);
    else if (peer.hello) this.#log.info(`ztunnel disconnected${reason ? `: ${reason}` : ''}`, `conn=${peer.id}`);
  }
}
