// HTTP/2 with prior knowledge (h2c) on tunnelled connections: a node:http2 server that never listens. A connection
// whose first bytes are the HTTP/2 preface is handed to it; each stream becomes a compat request/response pair
// that goes through the same Fastify routing (fastify.routing) as HTTP/1.1, so routes, hooks, the plugin chain and
// replies are shared. A peer's protocol error (a bad frame after the preface) ends its session with GOAWAY.

import { createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Limits } from './app.js';

export function createH2Server(limits: Limits, onRequest: (req: Http2ServerRequest, res: Http2ServerResponse) => void): Http2Server {
  const server = createServer({ settings: { maxHeaderListSize: limits.maxHeaderSize ?? 60 * 1024 } }, onRequest);
  // Session errors (protocol errors, resets) already closed the session; the server has nothing to add.
  server.on('sessionError', () => undefined);
  // An idle session is closed gracefully (GOAWAY; open streams finish), like an idle keep-alive connection.
  server.on('session', (session: ServerHttp2Session) => session.setTimeout(limits.keepAliveTimeoutMs ?? 60_000, () => session.close()));
  return server;
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
