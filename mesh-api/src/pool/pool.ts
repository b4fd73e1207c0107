// Connection pool for HBONE: HTTP/2 sessions keyed by {source identity, expected destination identities,
// next hop, source ip} (ztunnel's WorkloadKey). CONNECT streams multiplex over one session up to the stream limit;
// past it a new session opens. Sessions idle (no streams) for `idleTimeoutMs` are closed.
import type * as http2 from 'node:http2';

export interface PoolKey {
  srcIdentity: string;
  dstIdentities: string[];
  nextHop: string;
  srcIp?: string;
}

export function poolKeyString(k: PoolKey): string {
  return `${k.srcIdentity}|${[...k.dstIdentities].sort().join(',')}|${k.nextHop}|${k.srcIp ?? ''}`;
}

interface PooledSession {
  ready: Promise<http2.ClientHttp2Session>;
  session?: http2.ClientHttp2Session;
  streams: number;
  dead: boolean;
  /** What the session was opened with (the client certificate's serial): only the same generation is reused. */
  generation?: string;
  idleTimer?: NodeJS.Timeout;
  /** Frees one stream slot (one function per session, shared by its streams). */
  release?: () => void;
}

const kPooled = Symbol('ambit.pooledSession');

/** One shared 'close' listener for every pooled stream: a held tunnel keeps no closure over its set-up. */
function onPooledStreamClose(this: http2.ClientHttp2Stream & { [kPooled]?: PooledSession }): void {
  this[kPooled]?.release?.();
}

export interface PoolOptions {
  maxStreamsPerConnection?: number;
  idleTimeoutMs?: number;
}

export class SessionPool {
  private readonly byKey = new Map<string, PooledSession[]>();
  private readonly maxStreams: number;
  private readonly idleMs: number;

  constructor(opts: PoolOptions = {}) {
    this.maxStreams = opts.maxStreamsPerConnection ?? 100;
    this.idleMs = opts.idleTimeoutMs ?? 300_000;
  }

  /**
   * Reserves a stream slot on a session for `key` (opening one through `open` when none has room), runs `use`
   * on it, and releases the slot when the stream that `use` returns closes. Sessions of another `generation` (opened
   * with a certificate since renewed) take no new streams: they are closed gracefully, their open streams finish.
   */
  async withStream<S extends http2.ClientHttp2Stream>(
    key: string,
    open: () => Promise<http2.ClientHttp2Session>,
    use: (session: http2.ClientHttp2Session) => S,
    generation?: string,
  ): Promise<S> {
    const current = this.byKey.get(key);
    // `some` first: the per-tunnel path allocates nothing unless a renewal has just happened.
    if (current?.some((e) => e.generation !== generation)) {
      for (const old of current.filter((e) => e.generation !== generation)) {
        this.drop(key, old);
        old.ready.then((s) => s.close(), () => undefined);
      }
    }
    let list = this.byKey.get(key);
    if (!list) this.byKey.set(key, (list = []));
    let entry = list.find((e) => !e.dead && e.streams < this.maxStreams);
    if (!entry) {
      const fresh: PooledSession = { ready: open(), streams: 0, dead: false, generation };
      fresh.release = () => this.release(key, fresh);
      list.push(fresh);
      fresh.ready.then(
        (s) => {
          fresh.session = s;
          const drop = () => this.drop(key, fresh);
          s.once('close', drop);
          s.once('goaway', drop);
          s.once('error', drop);
        },
        () => this.drop(key, fresh),
      );
      entry = fresh;
    }
    const e = entry;
    e.streams++;
    if (e.idleTimer) {
      clearTimeout(e.idleTimer);
      e.idleTimer = undefined;
    }
    let session: http2.ClientHttp2Session;
    try {
      session = await e.ready;
    } catch (err) {
      e.streams--;
      throw err;
    }
    let stream: S;
    try {
      if (session.closed || session.destroyed) throw new Error('pooled connection closed');
      stream = use(session);
    } catch (err) {
      this.release(key, e);
      throw err;
    }
    (stream as S & { [kPooled]?: PooledSession })[kPooled] = e;
    stream.on('close', onPooledStreamClose);
    return stream;
  }

  private release(key: string, e: PooledSession): void {
    e.streams--;
    if (e.streams === 0 && !e.dead) {
      e.idleTimer = setTimeout(() => {
        this.drop(key, e);
        e.session?.close();
      }, this.idleMs);
      e.idleTimer.unref();
    }
  }

  private drop(key: string, e: PooledSession): void {
    e.dead = true;
    if (e.idleTimer) clearTimeout(e.idleTimer);
    const list = this.byKey.get(key);
    if (!list) return;
    const i = list.indexOf(e);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byKey.delete(key);
  }

  /** Open sessions and active streams, per key. */
  stats(): { connections: number; streams: number; keys: number } {
    let connections = 0;
    let streams = 0;
    for (const list of this.byKey.values()) {
      for (const e of list) {
        if (e.session && !e.dead) connections++;
        streams += e.streams;
      }
    }
    return { connections, streams, keys: this.byKey.size };
  }

  /** Closes every session (gracefully: open streams finish). */
  close(): void {
    for (const [key, list] of [...this.byKey]) {
      for (const e of [...list]) {
        this.drop(key, e);
        e.ready.then((s) => s.close(), () => undefined);
      }
    }
  }

  /** Destroys every session now. */
  destroy(): void {
    for (const [key, list] of [...this.byKey]) {
      for (const e of [...list]) {
        this.drop(key, e);
        e.ready.then((s) => s.destroy(), () => undefined);
      }
    }
  }
}
