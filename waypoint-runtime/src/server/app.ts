// The Fastify instance: one catch-all route, no body parsing (bodies stream through), bounded header size and
// header/request timeouts, and a client-error handler that answers like Envoy (400 / 408 / 431) and closes.
// The same limits hold for HTTP/1.1 served inside HBONE tunnels (see trackServedConnections) and, in ./h2, for
// h2c.
// Upgrade requests (WebSocket) take the same route (./upgrade); HTTP/2 streams reach it through ./h2.
//
// Hook order for every request (documented contract):
//   Fastify onRequest (none) -> handler: context -> chain.onRequest -> [local reply | forward] ->
//   chain.onResponse (reverse) -> response sent -> chain.onLog (on the response's 'close')

import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { routeUpgrades, shouldUpgrade } from './upgrade.js';

export interface Limits {
  /** Max bytes of request headers; larger -> 431. Default 60 KiB (Envoy's default). */
  maxHeaderSize?: number;
  /** Time to receive the request headers; slower -> 408. Default 10 s. */
  headersTimeoutMs?: number;
  /** Time to receive the whole request; slower -> 408. Default 60 s. */
  requestTimeoutMs?: number;
  /**
   * Idle keep-alive connection lifetime (HTTP/1.1; Node adds 1 s of slack). An HTTP/2 session with no open stream
   * for this long gets GOAWAY, whatever frames it still sends (PING, SETTINGS, an unfinished header block).
   * Default 60 s.
   */
  keepAliveTimeoutMs?: number;
  /** Concurrent streams per HTTP/2 session (h2c in a tunnel). Default 100, as Istio's waypoint. */
  maxConcurrentStreams?: number;
  /** How often stalled requests are checked. Default 1 s. */
  checkIntervalMs?: number;
}

function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // A response already under way (a request body that stalled while the upstream answered) cannot be replaced.
  if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  let status = '400 Bad Request';
  let body = 'Bad Request';
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = '431 Request Header Fields Too Large';
    body = 'Request Header Fields Too Large';
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = '408 Request Timeout';
    body = 'request timeout';
  }
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  } else {
    socket.destroy();
  }
}

/**
 * Node's HTTP server enforces `headersTimeout`/`requestTimeout` only on connections it tracks, and it starts
 * tracking when it emits 'listening'. Connections handed in with emit('connection') (HBONE tunnels) on a server
 * that never listens itself would escape both limits (a slowloris header or a stalled body held forever), so a
 * server that serves tunnels but does not listen gets that event once. A later listen() keeps the same tracking.
 */
export function trackServedConnections(server: import('node:http').Server): void {
  if (!server.listening) server.emit('listening');
}

export function buildApp(limits: Limits, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): FastifyInstance {
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    keepAliveTimeout: limits.keepAliveTimeoutMs ?? 60_000,
    requestTimeout: limits.requestTimeoutMs ?? 60_000,
    http: {
      maxHeaderSize: limits.maxHeaderSize ?? 60 * 1024,
      headersTimeout: limits.headersTimeoutMs ?? 10_000,
      connectionsCheckingInterval: limits.checkIntervalMs ?? 1000,
      shouldUpgradeCallback: shouldUpgrade,
    },
    clientErrorHandler: clientError,
    routerOptions: { ignoreDuplicateSlashes: false, ignoreTrailingSlash: false, maxParamLength: 65535 },
  });
  // Bodies are streamed to the upstream untouched.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  app.all('*', handler);
  app.setNotFoundHandler(handler);
  routeUpgrades(app.server, (req, res) => app.routing(req, res));
  return app;
}
