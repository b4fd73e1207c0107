// HTTP/2 with prior knowledge (h2c) on tunnelled connections: a node:http2 server that never listens. A connection
// whose first bytes are the HTTP/2 preface is handed to it; each stream becomes a compat request/response pair
// that goes through the same Fastify routing (fastify.routing) as HTTP/1.1, so routes, hooks, the plugin chain and
// replies are shared. A peer's protocol error (a bad frame after the preface) ends its session with GOAWAY.
// Limits as on HTTP/1.1: a session with no open stream for the keep-alive timeout gets GOAWAY (frames that never
// complete a request do not keep it alive), a request whose body is not complete within the request timeout is
// answered 408 (or reset once its response has started), and at most 100 streams run at once per session.

import { constants, createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Limits } from './app.js';

export function createH2Server(limits: Limits, onRequest: (req: Http2ServerRequest, res: Http2ServerResponse) => void): Http2Server {
  const requestTimeoutMs = limits.requestTimeoutMs ?? 60_000;
  const server = createServer(
    { settings: { maxHeaderListSize: limits.maxHeaderSize ?? 60 * 1024, maxConcurrentStreams: limits.maxConcurrentStreams ?? 100 } },
    (req, res) => {
      if (requestTimeoutMs > 0 && !req.stream.endAfterHeaders) {
        const timer = setTimeout(() => requestTimedOut(req, res), requestTimeoutMs);
        timer.unref?.();
        const clear = () => clearTimeout(timer);
        req.once('end', clear);
        req.stream.once('close', clear);
      }
      onRequest(req, res);
    },
  );
  // Session errors (protocol errors, resets) already closed the session; the server has nothing to add.
  server.on('sessionError', () => undefined);
  server.on('session', (session: ServerHttp2Session) => closeWhenIdle(session, limits.keepAliveTimeoutMs ?? 60_000));
  return server;
}

/** GOAWAY once `session` has had no open stream for `idleMs`; destroyed if it is still there `idleMs` later. */
function closeWhenIdle(session: ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      session.close();
      const last = setTimeout(() => session.destroy(), idleMs);
      last.unref?.();
      session.once('close', () => clearTimeout(last));
    }, idleMs);
    timer.unref?.();
  };
  arm();
  session.on('stream', (stream) => {
    open++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--open === 0 && !session.closed && !session.destroyed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
}

/** Whether the peer has sent END_STREAM on `req` (whether or not the body was read yet). */
function receivedWhole(req: Http2ServerRequest): boolean {
  const state = req.stream.state?.state;
  return req.readableEnded || state === constants.NGHTTP2_STREAM_STATE_HALF_CLOSED_REMOTE || state === constants.NGHTTP2_STREAM_STATE_CLOSED;
}

function requestTimedOut(req: Http2ServerRequest, res: Http2ServerResponse): void {
  if (res.stream.closed || res.stream.destroyed || receivedWhole(req)) return;
  if (res.headersSent) {
    res.stream.close(constants.NGHTTP2_CANCEL);
    return;
  }
  res.writeHead(408, { 'content-type': 'text/plain' });
  res.end('request timeout');
  // The client may still be sending; the request side is not read any further.
  res.stream.once('finish', () => res.stream.close(constants.NGHTTP2_NO_ERROR));
}

/** Start an HTTP/2 session on `conn` (paused, preface unread) and return it. */
export function acceptH2(server: Http2Server, conn: Duplex): ServerHttp2Session {
  let session: ServerHttp2Session | undefined;
  const take = (s: ServerHttp2Session) => (session = s);
  server.on('session', take);
  try {
    server.emit('connection', conn);
  } finally {
    server.off('session', take);
  }
  conn.resume();
  return session!;
}
