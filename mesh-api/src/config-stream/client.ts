// The runtime side of the push stream: one long-lived `POST /v1/stream` on the controller's :15012 (HTTP/2, TLS
// trusting the mesh root, bearer token). The server writes NDJSON messages; this client applies each to its last
// good config, hands the result to its listeners, and writes back `{ack}` or `{nack, error}`. A message it cannot
// use is NACKed and dropped; the last good config stays in force while the controller is away, and the client
// reconnects with back-off (the server then sends a full config). A status report (reportStatus) goes up the same
// stream: at once when connected, and again on every reconnect (the controller keeps reports per stream).

import http2 from 'node:http2';
import type { MeshConfig } from '../model/types.js';
import { Backoff } from '../plumbing/backoff.js';
import { applyMessage, ConfigError, validateEnvelope } from './delta.js';
import { nullLogger, type PartialLogger } from '../log/index.js';

/** The logger the config-stream clients write to; the runtime passes its own. Messages never carry tokens or keys. */
export type XdsLogger = PartialLogger;
import { NdjsonLines } from './ndjson.js';
import { connectSession, resolveToken, type ControlPlaneTarget } from './transport.js';
import {
  HEADER_KIND,
  HEADER_NODE,
  HEADER_VERSION,
  HEADER_WAYPOINT,
  STREAM_PATH,
  type ClientKind,
  type PushMessage,
  type PushReply,
  type StatusReport,
  type WaypointConfig,
} from './types.js';

export interface ConfigUpdate<C> {
  version: string;
  /** True when the message replaced the whole config (first message of every connection). */
  full: boolean;
  /** For a delta: the items upserted and the keys removed, per collection. */
  upserts?: Partial<C>;
  removals?: Record<string, string[]>;
}

export type UpdateListener<C> = (config: C, update: ConfigUpdate<C>) => void | Promise<void>;

export interface ConfigClientOptions<C> extends ControlPlaneTarget {
  kind: ClientKind;
  /** The node this client runs on (ztunnel). */
  node?: string;
  /** `ns/name` of the waypoint Gateway (waypoint). */
  waypoint?: string;
  /** Extra checks on each candidate config; throwing NACKs the message and keeps the last good config. */
  validate?: (config: C) => void;
  /** Back-off between connection attempts (default 200 ms doubling to 30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** HTTP/2 PING interval to notice a dead controller (default 15 s); the ping must answer within it. */
  pingIntervalMs?: number;
  /** Longest accepted message line (default 64 MiB); longer ones are NACKed and skipped. */
  maxMessageBytes?: number;
  log?: XdsLogger;
}

type Held<C> = { version: string; config: C };

export class ConfigClient<C extends object = MeshConfig> {
  readonly #opts: ConfigClientOptions<C>;
  readonly #log: XdsLogger;
  readonly #listeners = new Set<UpdateListener<C>>();
  readonly #backoff: Backoff;
  #held: Held<C> | undefined;
  #running = false;
  #session: http2.ClientHttp2Session | undefined;
  #stream: http2.ClientHttp2Stream | undefined;
  #timer: NodeJS.Timeout | undefined;
  #connected = false;
  #readyWaiters: Array<(c: C) => void> = [];
  /** The latest status report (JSON line), and the stream it was last written on. */
  #status: string | undefined;
  #statusSentOn: http2.ClientHttp2Stream | undefined;
  #stats = { connects: 0, messages: 0, acks: 0, nacks: 0 };

  constructor(opts: ConfigClientOptions<C>) {
    this.#opts = opts;
    this.#log = opts.log ?? nullLogger;
    // Jittered over the upper half of each delay, so clients the same controller restart dropped do not reconnect in step.
    this.#backoff = new Backoff({ initialMs: opts.backoffInitialMs ?? 200, maxMs: opts.backoffMaxMs ?? 30_000, jitter: 0.5 });
    if (opts.kind === 'waypoint' && !opts.waypoint) throw new Error('a waypoint config client needs `waypoint: "ns/name"`');
  }

  /** Called with every new good config. Returns an unsubscribe function. Throwing NACKs the update. */
  onUpdate(cb: UpdateListener<C>): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** The last good config, if any. */
  get config(): C | undefined {
    return this.#held?.config;
  }
  get version(): string | undefined {
    return this.#held?.version;
  }
  get connected(): boolean {
    return this.#connected;
  }
  get stats(): Readonly<{ connects: number; messages: number; acks: number; nacks: number }> {
    return { ...this.#stats };
  }

  /** Resolves with the first good config (immediately if one is held). */
  ready(): Promise<C> {
    if (this.#held) return Promise.resolve(this.#held.config);
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /**
   * Sets this client's status report (it replaces the previous one). Sent now if the stream is up, and after every
   * reconnect; an unchanged report is not sent twice on one stream.
   */
  reportStatus(report: StatusReport): void {
    const line = JSON.stringify({ status: report } satisfies PushReply) + '\n';
    if (line === this.#status) return;
    this.#status = line;
    this.#statusSentOn = undefined;
    this.#sendStatus();
  }

  #sendStatus(): void {
    const stream = this.#stream;
    if (!this.#connected || !stream || !this.#status || this.#statusSentOn === stream) return;
    if (stream.destroyed || !stream.writable) return;
    stream.write(this.#status);
    this.#statusSentOn = stream;
  }

  /** Starts connecting in the background; returns at once. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    const session = this.#session;
    this.#session = undefined;
    this.#connected = false;
    this.#stream?.close();
    this.#stream = undefined;
    if (session && !session.destroyed) {
      await new Promise<void>((resolve) => {
        session.close(() => resolve());
        setTimeout(() => {
          session.destroy();
          resolve();
        }, 1000).unref();
      });
    }
  }

  #retry(reason: string): void {
    this.#connected = false;
    const session = this.#session;
    this.#session = undefined;
    session?.destroy();
    if (!this.#running) return;
    const delay = this.#backoff.next();
    this.#log.warn('config stream disconnected; retrying', { reason, delayMs: delay, version: this.version });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    let session: http2.ClientHttp2Session;
    let token: string;
    try {
      token = await resolveToken(this.#opts);
      session = await connectSession(this.#opts);
    } catch (err) {
      return this.#retry(errorText(err));
    }
    if (!this.#running) {
      session.destroy();
      return;
    }
    this.#session = session;
    this.#stats.connects++;
    session.on('error', () => {});
    session.on('close', () => {
      if (this.#session === session) this.#retry('connection closed');
    });
    session.on('goaway', () => {
      if (this.#session === session) this.#retry('server sent GOAWAY');
    });
    this.#startPings(session);

    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': STREAM_PATH,
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-ndjson',
      [HEADER_KIND]: this.#opts.kind,
    };
    if (this.#opts.node) headers[HEADER_NODE] = this.#opts.node;
    if (this.#opts.waypoint) headers[HEADER_WAYPOINT] = this.#opts.waypoint;
    if (this.#held) headers[HEADER_VERSION] = this.#held.version;
    const stream = session.request(headers, { endStream: false });
    this.#stream = stream;
    stream.setEncoding('utf8');
    stream.on('error', () => {});
    stream.on('response', (h) => {
      const status = Number(h[':status']);
      if (status !== 200) {
        let body = '';
        stream.on('data', (c: string) => (body += c.slice(0, 1000)));
        stream.on('end', () => {
          if (this.#session === session) this.#retry(`stream refused: HTTP ${status} ${body.trim().slice(0, 200)}`);
        });
        return;
      }
      this.#connected = true;
      this.#log.info('config stream connected', { kind: this.#opts.kind, node: this.#opts.node, waypoint: this.#opts.waypoint });
      this.#sendStatus();
    });
    this.#readLines(stream, session);
    stream.on('close', () => {
      if (this.#session === session) this.#retry('stream closed');
    });
  }

  #startPings(session: http2.ClientHttp2Session): void {
    const every = this.#opts.pingIntervalMs ?? 15_000;
    let outstanding = false;
    const t = setInterval(() => {
      if (session.destroyed) return clearInterval(t);
      if (outstanding) {
        clearInterval(t);
        if (this.#session === session) this.#retry('ping unanswered');
        return;
      }
      outstanding = true;
      session.ping((err) => {
        outstanding = false;
        if (err && this.#session === session) {
          clearInterval(t);
          this.#retry('ping failed');
        }
      });
    }, every);
    t.unref();
    session.once('close', () => clearInterval(t));
  }

  #readLines(stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session): void {
    const max = this.#opts.maxMessageBytes ?? 64 << 20;
    const lines = new NdjsonLines(max);
    // Messages are handled one at a time, in order; listeners may be async.
    let chain: Promise<void> = Promise.resolve();
    stream.on('data', (chunk: string) => {
      if (!this.#connected) return;
      for (const ev of lines.push(chunk)) {
        if ('line' in ev) chain = chain.then(() => this.#handle(ev.line, stream, session));
        else chain = chain.then(() => this.#reply(stream, { nack: '', error: `message longer than ${max} bytes` }));
      }
    });
  }

  async #handle(line: string, stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session): Promise<void> {
    if (this.#session !== session) return;
    this.#stats.messages++;
    let nonce = '';
    try {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch (err) {
        throw new ConfigError(`not JSON: ${errorText(err)}`);
      }
      if (msg && typeof msg === 'object' && typeof (msg as { nonce?: unknown }).nonce === 'string')
        nonce = (msg as { nonce: string }).nonce;
      validateEnvelope(msg);
      const next = applyMessage<C>(this.#opts.kind, this.#held, msg);
      this.#opts.validate?.(next);
      const update: ConfigUpdate<C> = { version: msg.version, full: msg.full !== undefined };
      if (!update.full) {
        update.upserts = (msg as PushMessage<C>).upserts;
        update.removals = msg.removals;
      }
      const previous = this.#held;
      this.#held = { version: msg.version, config: next };
      try {
        for (const cb of [...this.#listeners]) await cb(next, update);
      } catch (err) {
        this.#held = previous;
        throw err;
      }
      this.#backoff.reset();
      this.#stats.acks++;
      this.#log.debug?.('config applied', { version: msg.version, full: update.full });
      this.#reply(stream, { ack: nonce });
      for (const w of this.#readyWaiters.splice(0)) w(next);
    } catch (err) {
      this.#stats.nacks++;
      const error = errorText(err).slice(0, 1000);
      this.#log.warn('config rejected; keeping the last good config', { nonce, error, version: this.version });
      this.#reply(stream, { nack: nonce, error });
    }
  }

  #reply(stream: http2.ClientHttp2Stream, reply: PushReply): void {
    if (!stream.destroyed && stream.writable) stream.write(JSON.stringify(reply) + '\n');
  }
}

export type WaypointConfigClient = ConfigClient<WaypointConfig>;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
