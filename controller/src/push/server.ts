// The controller side of the config stream (istiod's delta ADS server, as NDJSON over one HTTP/2 stream):
// `POST /v1/stream` with a bearer token; the first message is a full config, later ones are deltas against what
// the client last applied; the client's `{ack}`/`{nack}` lines come back on the request body. A NACKed delta is
// answered with a full; a NACKed full waits for the next version. A waypoint's `{status}` line (its whole report on
// the WaypointPlugins it holds) is checked and kept per stream until the next one or the stream's end; only its
// entries about objects this stream was sent count (statusReports).

import { randomBytes } from 'node:crypto';
import type http2 from 'node:http2';
import {
  diffConfigs,
  HEADER_KIND,
  HEADER_NODE,
  HEADER_VERSION,
  HEADER_WAYPOINT,
  indexConfig,
  type ClientKind,
  type IndexedConfig,
  type MeshConfig,
  type ReportedCondition,
  type WaypointConfig,
} from '@ambit/mesh-api';
import { AuthError, callerKey, type Authenticator, type Caller } from '../ca/auth.js';
import type { PartialLogger } from '@ambit/mesh-api';
import { sendJson } from '../ca/server.js';
import { parseStatusReport, reportedResourceKey, type WaypointStatusReport } from './status.js';
import type { WaypointIdentity } from '../mesh/model.js';

/** What the mesh builder hands the push server: the ztunnel model and one config per waypoint (`ns/name`). */
export interface PushSnapshot {
  mesh: MeshConfig;
  waypoints: Map<string, WaypointConfig>;
  /** What each waypoint (`ns/name`) runs as, for the stream authorizer. */
  identities?: Map<string, WaypointIdentity>;
}

/** A stream request as the authorizer sees it; `identity` is the mesh model's record of the named waypoint. */
export interface StreamRequest {
  kind: ClientKind;
  node?: string;
  waypoint?: string;
  identity?: WaypointIdentity;
}

/** Decides whether an authenticated caller may receive a given stream; throws {@link AuthError} 403 if not. */
export type StreamAuthorizer = (caller: Caller, request: StreamRequest) => Promise<void>;

export interface PushServerOptions {
  authenticator: Authenticator;
  authorize: StreamAuthorizer;
  log?: PartialLogger;
  /** HTTP/2 PING interval to drop dead clients (default 30 s). */
  pingIntervalMs?: number;
  /** Longest accepted reply line from a client (default 1 MiB: a waypoint's status report on many plugins). */
  maxReplyBytes?: number;
  /** Open streams per caller (its pod, or its service account without one); more are 429 (default 4). */
  maxStreamsPerCaller?: number;
  /** Open streams in all (default 10 000); more are 503. */
  maxStreams?: number;
}

export interface PushEvent {
  client: string;
  kind: ClientKind;
  nonce: string;
  version: string;
  full: boolean;
  bytes: number;
}

export interface AckEvent extends PushEvent {
  /** ms from send to acknowledgement. */
  latencyMs: number;
  error?: string;
}

type Target = { kind: 'ztunnel' } | { kind: 'waypoint'; key: string };

interface Sent {
  seq: number;
  nonce: string;
  version: string;
  full: boolean;
  at: number;
  bytes: number;
}

class Subscriber {
  sentIndex: IndexedConfig | undefined;
  sentVersion: string | undefined;
  /** The latest version this client was brought to (possibly by sending nothing). */
  checkedVersion: string | undefined;
  ackedVersion: string | undefined;
  lastFullSeq = -1;
  seq = 0;
  readonly inflight = new Map<string, Sent>();
  congested = false;
  closed = false;
  /** The client's last valid status report (waypoints). */
  report: ReportedCondition[] | undefined;
  constructor(
    readonly id: string,
    readonly target: Target,
    readonly caller: Caller,
    readonly res: http2.Http2ServerResponse,
    readonly node: string | undefined,
  ) {}
  get label(): string {
    return this.target.kind === 'ztunnel' ? `ztunnel/${this.node ?? callerKey(this.caller)}` : `waypoint/${this.target.key}`;
  }
}

type Listener<E> = (e: E) => void;

export class PushServer {
  readonly #opts: PushServerOptions;
  readonly #log: PartialLogger | undefined;
  readonly #subs = new Set<Subscriber>();
  readonly #boot = randomBytes(4).toString('hex');
  #counter = 0;
  #version: string | undefined;
  #snapshot: PushSnapshot | undefined;
  /** Indexed configs of the current version: `ztunnel` or `waypoint:ns/name`. */
  #index = new Map<string, IndexedConfig>();
  /** Serialized message bodies of the current version, by target and base version (`''` for a full). */
  #bodies = new Map<string, string>();
  #nextId = 0;
  readonly #ackListeners = new Set<Listener<AckEvent>>();
  readonly #pushListeners = new Set<Listener<PushEvent>>();
  readonly #statusListeners = new Set<() => void>();

  constructor(opts: PushServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
  }

  /** The current version, once a snapshot was set. */
  get version(): string | undefined {
    return this.#version;
  }

  /** Connected clients: label, kind, version acknowledged. */
  clients(): { id: string; client: string; kind: ClientKind; ackedVersion?: string; sentVersion?: string }[] {
    return [...this.#subs].map((s) => ({
      id: s.id,
      client: s.label,
      kind: s.target.kind,
      ...(s.ackedVersion ? { ackedVersion: s.ackedVersion } : {}),
      ...(s.sentVersion ? { sentVersion: s.sentVersion } : {}),
    }));
  }

  onAck(cb: Listener<AckEvent>): () => void {
    this.#ackListeners.add(cb);
    return () => this.#ackListeners.delete(cb);
  }

  onPush(cb: Listener<PushEvent>): () => void {
    this.#pushListeners.add(cb);
    return () => this.#pushListeners.delete(cb);
  }

  /** Called whenever a status report, or what a reporting client was sent, may have changed. */
  onStatus(cb: () => void): () => void {
    this.#statusListeners.add(cb);
    return () => this.#statusListeners.delete(cb);
  }

  /**
   * The connected waypoints' reports, each cut to the objects its stream was sent (a report naming anything else,
   * or a generation newer than the one sent, counts for nothing).
   */
  statusReports(): WaypointStatusReport[] {
    const out: WaypointStatusReport[] = [];
    for (const s of this.#subs) {
      if (s.target.kind !== 'waypoint' || !s.report?.length) continue;
      const sent = s.sentIndex?.collections.get('resources');
      const conditions = s.report.filter((c) => {
        const obj = sent?.get(reportedResourceKey(c))?.item as { metadata?: { generation?: number } } | undefined;
        if (!obj) return false;
        const gen = obj.metadata?.generation;
        return c.observedGeneration === undefined || gen === undefined || c.observedGeneration <= gen;
      });
      if (conditions.length) out.push({ waypoint: s.target.key, client: s.label, conditions });
    }
    return out;
  }

  #statusChanged(): void {
    for (const l of this.#statusListeners) l();
  }

  /** Installs a new model and pushes what changed to every client. Returns the new version. */
  update(snapshot: PushSnapshot): string {
    this.#snapshot = snapshot;
    this.#version = `${this.#boot}-${++this.#counter}`;
    this.#index.clear();
    this.#bodies.clear();
    for (const s of this.#subs) this.#push(s);
    return this.#version;
  }

  /** The `POST /v1/stream` handler. */
  handler() {
    return (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => this.#accept(req, res);
  }

  /** Ends every stream (clients reconnect elsewhere). */
  closeAll(): void {
    for (const s of this.#subs) this.#drop(s, 'server stopping');
  }

  async #accept(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): Promise<void> {
    const kind = header(req, HEADER_KIND);
    const node = header(req, HEADER_NODE);
    const waypoint = header(req, HEADER_WAYPOINT);
    if (kind !== 'ztunnel' && kind !== 'waypoint') return sendJson(res, 400, { error: `${HEADER_KIND} must be ztunnel or waypoint` });
    if (kind === 'waypoint' && !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(waypoint ?? ''))
      return sendJson(res, 400, { error: `${HEADER_WAYPOINT} must be <namespace>/<gateway name>` });
    let caller: Caller;
    try {
      caller = await this.#opts.authenticator.authenticate(req.headers.authorization);
      if (kind === 'waypoint' && !this.#snapshot) return sendJson(res, 503, { error: 'the mesh model is not ready yet; retry' });
      const identity = waypoint ? this.#snapshot?.identities?.get(waypoint) : undefined;
      await this.#opts.authorize(caller, { kind, ...(node ? { node } : {}), ...(waypoint ? { waypoint } : {}), ...(identity ? { identity } : {}) });
    } catch (err) {
      if (err instanceof AuthError) {
        this.#log?.warn('config stream refused', { kind, node, waypoint, status: err.status, error: err.message });
        return sendJson(res, err.status, { error: err.message });
      }
      throw err;
    }
    const perCaller = this.#opts.maxStreamsPerCaller ?? 4;
    const who = streamOwner(caller);
    if ([...this.#subs].filter((s) => streamOwner(s.caller) === who).length >= perCaller) {
      this.#log?.warn('config stream refused: too many streams for this caller', { caller: callerKey(caller), pod: caller.podName, limit: perCaller });
      return sendJson(res, 429, { error: `too many config streams for ${who} (limit ${perCaller}); close one or retry later` });
    }
    const total = this.#opts.maxStreams ?? 10_000;
    if (this.#subs.size >= total) {
      this.#log?.warn('config stream refused: server at its stream limit', { limit: total });
      return sendJson(res, 503, { error: `the config server holds ${total} streams, its limit; retry later` });
    }
    const target: Target = kind === 'ztunnel' ? { kind } : { kind, key: waypoint! };
    const sub = new Subscriber(`c${++this.#nextId}`, target, caller, res, node);
    this.#subs.add(sub);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    this.#log?.info('config stream connected', { client: sub.label, caller: callerKey(caller), lastVersion: header(req, HEADER_VERSION) });
    const stream = res.stream;
    stream.on('close', () => this.#drop(sub, 'stream closed'));
    stream.on('error', () => {});
    stream.on('drain', () => {
      if (sub.congested) {
        sub.congested = false;
        this.#push(sub);
      }
    });
    this.#readReplies(sub, req);
    this.#ping(sub);
    this.#push(sub);
  }

  #drop(sub: Subscriber, reason: string): void {
    if (sub.closed) return;
    sub.closed = true;
    this.#subs.delete(sub);
    this.#log?.info('config stream disconnected', { client: sub.label, reason });
    if (sub.report?.length) this.#statusChanged();
    if (!sub.res.stream.destroyed) sub.res.stream.close();
  }

  #ping(sub: Subscriber): void {
    const session = sub.res.stream.session;
    if (!session) return;
    const t = setInterval(() => {
      if (sub.closed) return clearInterval(t);
      session.ping((err) => {
        if (err) {
          clearInterval(t);
          this.#drop(sub, 'ping failed');
        }
      });
    }, this.#opts.pingIntervalMs ?? 30_000);
    t.unref();
    sub.res.stream.once('close', () => clearInterval(t));
  }

  #readReplies(sub: Subscriber, req: http2.Http2ServerRequest): void {
    const max = this.#opts.maxReplyBytes ?? 1024 * 1024;
    let buf = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) this.#reply(sub, line);
      }
      if (buf.length > max) {
        this.#log?.warn('config stream client sent an oversized reply', { client: sub.label });
        this.#drop(sub, 'oversized reply');
      }
    });
    req.on('error', () => {});
  }

  #reply(sub: Subscriber, line: string): void {
    let r: { ack?: unknown; nack?: unknown; error?: unknown; status?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      this.#log?.warn('config stream client sent a malformed reply', { client: sub.label });
      return;
    }
    if (!r || typeof r !== 'object') {
      this.#log?.warn('config stream client sent a malformed reply', { client: sub.label });
      return;
    }
    if (r.status !== undefined) return this.#statusReport(sub, r.status);
    const now = Date.now();
    if (typeof r.ack === 'string') {
      const sent = sub.inflight.get(r.ack);
      if (!sent) return;
      // Acknowledging a message acknowledges the ones before it.
      for (const [n, s] of sub.inflight) if (s.seq <= sent.seq) sub.inflight.delete(n);
      sub.ackedVersion = sent.version;
      this.#emitAck(sub, sent, now);
      return;
    }
    if (typeof r.nack === 'string') {
      const error = typeof r.error === 'string' ? r.error.slice(0, 500) : 'unknown';
      const sent = sub.inflight.get(r.nack);
      this.#log?.warn('config rejected by client', { client: sub.label, nonce: r.nack, version: sent?.version, error });
      if (sent) {
        for (const [n, s] of sub.inflight) if (s.seq <= sent.seq) sub.inflight.delete(n);
        this.#emitAck(sub, sent, now, error);
        // Replies to messages sent before our last full concern a state the client no longer has.
        if (sent.seq < sub.lastFullSeq) return;
      }
      // The client's state is now unknown to us: its next message must be a full.
      sub.sentIndex = undefined;
      sub.sentVersion = undefined;
      sub.checkedVersion = undefined;
      if (!sent || !sent.full) this.#push(sub);
    }
  }

  /** A `{status}` line: a valid one replaces the stream's report; anything else is logged and ignored. */
  #statusReport(sub: Subscriber, payload: unknown): void {
    if (sub.target.kind !== 'waypoint') {
      this.#log?.warn('status report ignored: only waypoints report status', { client: sub.label });
      return;
    }
    let report: ReportedCondition[];
    try {
      report = parseStatusReport(payload);
    } catch (err) {
      this.#log?.warn('status report ignored: invalid', { client: sub.label, error: (err as Error).message });
      return;
    }
    if (JSON.stringify(report) === JSON.stringify(sub.report ?? [])) return;
    sub.report = report;
    this.#log?.debug?.('status report received', { client: sub.label, conditions: report.length, notActive: report.filter((c) => c.status !== 'True').length });
    this.#statusChanged();
  }

  #emitAck(sub: Subscriber, sent: Sent, now: number, error?: string): void {
    if (!this.#ackListeners.size) return;
    const e: AckEvent = {
      client: sub.label,
      kind: sub.target.kind,
      nonce: sent.nonce,
      version: sent.version,
      full: sent.full,
      bytes: sent.bytes,
      latencyMs: now - sent.at,
      ...(error ? { error } : {}),
    };
    for (const l of this.#ackListeners) l(e);
  }

  #targetKey(t: Target): string {
    return t.kind === 'ztunnel' ? 'ztunnel' : `waypoint:${t.key}`;
  }

  #configFor(t: Target): object | undefined {
    if (!this.#snapshot) return undefined;
    return t.kind === 'ztunnel' ? this.#snapshot.mesh : this.#snapshot.waypoints.get(t.key);
  }

  #indexed(t: Target): IndexedConfig | undefined {
    const key = this.#targetKey(t);
    let ix = this.#index.get(key);
    if (!ix) {
      const cfg = this.#configFor(t);
      if (!cfg) return undefined;
      ix = indexConfig(t.kind, cfg);
      this.#index.set(key, ix);
    }
    return ix;
  }

  /** Sends `sub` whatever brings it to the current version (nothing if it is there, or has no config yet). */
  #push(sub: Subscriber): void {
    if (sub.closed || !this.#version) return;
    if (sub.checkedVersion === this.#version) return;
    if (sub.res.stream.writableNeedDrain) {
      sub.congested = true;
      return;
    }
    const next = this.#indexed(sub.target);
    if (!next) return; // e.g. a waypoint whose Gateway is not (yet) in the model: wait
    const version = this.#version;
    const base = sub.sentIndex ? sub.sentVersion! : '';
    const bodyKey = `${this.#targetKey(sub.target)}|${base}`;
    let body = this.#bodies.get(bodyKey);
    if (body === undefined) {
      if (sub.sentIndex) {
        const d = diffConfigs(sub.sentIndex, next);
        if (d.changes === 0) {
          body = '';
        } else {
          const msg: Record<string, unknown> = { version, base };
          if (Object.keys(d.upserts).length) msg.upserts = d.upserts;
          if (Object.keys(d.removals).length) msg.removals = d.removals;
          body = JSON.stringify(msg).slice(1);
        }
      } else {
        body = JSON.stringify({ version, full: this.#configFor(sub.target) }).slice(1);
      }
      this.#bodies.set(bodyKey, body);
    }
    sub.checkedVersion = version;
    if (!body) return; // nothing changed for this client: it stays at sentVersion
    sub.sentIndex = next;
    sub.sentVersion = version;
    const seq = ++sub.seq;
    const nonce = `${sub.id}-${seq}`;
    const line = `{"nonce":${JSON.stringify(nonce)},${body}\n`;
    const full = base === '';
    if (full) sub.lastFullSeq = seq;
    const sent: Sent = { seq, nonce, version, full, at: Date.now(), bytes: Buffer.byteLength(line) };
    sub.inflight.set(nonce, sent);
    if (sub.inflight.size > 1000) sub.inflight.delete(sub.inflight.keys().next().value!);
    sub.res.stream.write(line);
    if (sub.report?.length) this.#statusChanged(); // what its report may name changed
    if (this.#pushListeners.size) {
      const e: PushEvent = { client: sub.label, kind: sub.target.kind, nonce, version, full, bytes: sent.bytes };
      for (const l of this.#pushListeners) l(e);
    }
  }
}

/** Whose streams count together: the pod the token is bound to, else the service account. */
function streamOwner(c: Caller): string {
  return c.podName ? `${c.namespace}/${c.podName}` : `${callerKey(c)} (no pod)`;
}

function header(req: http2.Http2ServerRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
