// HTTP/2 (h2c, prior knowledge) to one upstream endpoint with node:http2, in place of undici's HTTP/2 client.
//
// Why not undici: undici 8.12.4, lib/dispatcher/client-h2.js, onTrailers (line 1751) removes the stream's 'data'
// listener (line 1762: `stream.off('data', onData)`) as soon as the trailers arrive. Response DATA still buffered
// in the Http2Stream at that moment (undici paused the stream because the response body was not read fast enough)
// is never delivered: the response ends with its trailers and a truncated or empty body. grpc-go servers send
// HEADERS, DATA and trailers back to back, so unary gRPC calls through the waypoint answered grpc-status 0 with
// a missing message (Node servers send trailers separately, which hid it). test/grpc.test.ts shows the bug with a
// direct undici client; when that test fails, undici is fixed and this module can give way to an undici Pool.
//
// The dispatcher offers the one call the waypoint makes (`request`), with undici's response shape: statusCode,
// headers, trailers (filled before the body ends), body (a Readable with `dump()`). Errors carry undici's and
// Node's codes, so ./errors classifies them the same way.

import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { PassThrough, Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface UpstreamRequest {
  path: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body?: AsyncIterable<Buffer> | Readable | Buffer | string | null;
  /** Time to wait for the response headers (0: none). */
  headersTimeout?: number;
  bodyTimeout?: number;
}

export interface UpstreamBody extends Readable {
  /** Read and discard the rest of the body. */
  dump(): Promise<void>;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/** What forwarding needs of a connection pool: undici's Pool (HTTP/1.1) and {@link H2Dispatcher} both fit. */
export interface UpstreamDispatcher {
  request(opts: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export interface H2DispatcherOptions {
  /** Opens a new byte stream to the endpoint (TCP, or an HBONE tunnel). */
  open(): Promise<Duplex>;
  /** Close a session idle this long. Default 30 s. */
  idleTimeoutMs?: number;
  /** Sessions kept per endpoint; a new request goes to the least busy. Default 4. */
  sessions?: number;
  /** Concurrent streams per session before another session opens. Default 100. */
  maxConcurrentStreams?: number;
}

/** Stream and connection windows as undici's HTTP/2 client sets them (its defaults), so upstreams see the same. */
const STREAM_WINDOW = 262_144;
const SESSION_WINDOW = 524_288;

function withCode(err: Error, code: string): Error {
  return Object.assign(err, { code });
}

function bodyOf(stream: ClientHttp2Stream): UpstreamBody {
  const body = new PassThrough() as PassThrough & UpstreamBody;
  body.dump = () =>
    new Promise<void>((resolve) => {
      if (body.readableEnded || body.destroyed) return resolve();
      body.once('end', resolve).once('close', resolve).once('error', () => resolve());
      body.resume();
    });
  stream.pipe(body);
  stream.on('error', (err) => body.destroy(err));
  // Reset by the upstream (or closed) before its end: the body fails rather than ending short.
  stream.on('close', () => {
    if (!stream.readableEnded && !body.destroyed) body.destroy(withCode(new Error(`upstream stream closed (code ${stream.rstCode})`), 'UND_ERR_SOCKET'));
  });
  // The consumer gave up (client gone, local reply instead): cancel the upstream stream.
  body.on('close', () => {
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
  });
  return body;
}

interface Session {
  session: ClientHttp2Session;
  active: number;
}

export class H2Dispatcher implements UpstreamDispatcher {
  readonly #origin: string;
  readonly #opts: H2DispatcherOptions;
  readonly #sessions: Session[] = [];
  readonly #connecting = new Set<Promise<Session>>();
  #closed = false;

  constructor(origin: string, opts: H2DispatcherOptions) {
    this.#origin = origin;
    this.#opts = opts;
  }

  async #session(): Promise<Session> {
    const max = this.#opts.maxConcurrentStreams ?? 100;
    const usable = this.#sessions.filter((s) => !s.session.closed && !s.session.destroyed);
    const least = usable.sort((a, b) => a.active - b.active)[0];
    if (least && (least.active < max || usable.length + this.#connecting.size >= (this.#opts.sessions ?? 4))) return least;
    if (this.#connecting.size) return [...this.#connecting][0]!;
    const p = this.#connect();
    this.#connecting.add(p);
    try {
      return await p;
    } finally {
      this.#connecting.delete(p);
    }
  }

  async #connect(): Promise<Session> {
    const conn = await this.#opts.open();
    if (this.#closed) {
      conn.destroy();
      throw withCode(new Error('dispatcher closed'), 'UND_ERR_DESTROYED');
    }
    const session = http2.connect(this.#origin, { createConnection: () => conn as never, settings: { initialWindowSize: STREAM_WINDOW, enablePush: false } });
    const entry: Session = { session, active: 0 };
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    const drop = () => {
      const i = this.#sessions.indexOf(entry);
      if (i >= 0) this.#sessions.splice(i, 1);
    };
    session.once('close', drop);
    session.once('goaway', drop);
    session.setTimeout(this.#opts.idleTimeoutMs ?? 30_000, () => {
      if (entry.active === 0) session.close();
    });
    this.#sessions.push(entry);
    return entry;
  }

  async request(opts: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.#closed) throw withCode(new Error('dispatcher closed'), 'UND_ERR_DESTROYED');
    const entry = await this.#session();
    const headers: http2.OutgoingHttpHeaders = { ':method': opts.method, ':path': opts.path, ':scheme': 'http' };
    for (const k in opts.headers) {
      const v = opts.headers[k];
      if (v === undefined) continue;
      if (k === 'host') headers[':authority'] = Array.isArray(v) ? v[0] : v;
      else headers[k] = v;
    }
    const body = opts.body ?? null;
    const stream = entry.session.request(headers, { endStream: body === null });
    entry.active++;
    stream.once('close', () => entry.active--);
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error) => {
        clearTimeout(timer);
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      };
      const onError = (err: Error) => fail(err);
      const onClose = () => fail(withCode(new Error(`upstream stream closed before response headers (code ${stream.rstCode})`), stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? 'ECONNREFUSED' : 'UND_ERR_SOCKET'));
      if (opts.headersTimeout) timer = setTimeout(() => fail(withCode(new Error(`headers timeout after ${opts.headersTimeout} ms`), 'UND_ERR_HEADERS_TIMEOUT')), opts.headersTimeout);
      stream.once('error', onError);
      stream.once('close', onClose);
      stream.once('response', (h) => {
        clearTimeout(timer);
        stream.off('error', onError);
        stream.off('close', onClose);
        const statusCode = Number(h[':status']);
        const responseHeaders: UpstreamResponse['headers'] = {};
        for (const k in h) if (k.charCodeAt(0) !== 58) responseHeaders[k] = h[k];
        const res: UpstreamResponse = { statusCode, headers: responseHeaders, trailers: {}, body: bodyOf(stream) };
        // Node emits 'trailers' before the stream's end, so they are in place when the body ends.
        stream.once('trailers', (t) => {
          for (const k in t) if (k.charCodeAt(0) !== 58) res.trailers[k] = t[k];
        });
        if (opts.bodyTimeout) stream.setTimeout(opts.bodyTimeout, () => res.body.destroy(withCode(new Error('body timeout'), 'UND_ERR_BODY_TIMEOUT')));
        resolve(res);
      });
      if (body !== null) {
        const source = typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
        // A request body that fails (client reset) resets the upstream stream too.
        pipeline(source, stream).catch((err: Error) => {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
          fail(err);
        });
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = this.#sessions.splice(0);
    await Promise.all(all.map((s) => new Promise<void>((r) => (s.session.closed ? r() : s.session.close(() => r())))));
  }
}
