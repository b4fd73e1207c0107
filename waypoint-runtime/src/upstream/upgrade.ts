// Requests that switch protocols (WebSocket over HTTP/1.1), once the chain has authorized and routed them: the
// waypoint opens a connection of its own to the chosen endpoint (through HBONE when the endpoint is captured),
// sends the request there with its Upgrade, and when the backend answers 101 relays that answer and then bytes
// both ways until either side closes. Any other answer goes back as an ordinary response, after which the client
// connection closes. Failures before an answer are the usual local replies (503 UF/UH, 504 UT).

import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Headers, PluginChain, RequestContext } from '@ambit/plugin-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Upgrade } from '../server/upgrade.js';
import { classify, connectFailure, NO_HEALTHY_UPSTREAM, UPSTREAM_TIMEOUT } from './errors.js';
import { waypointHop } from './waypoint-hop.js';
import { candidates, defaultRoute, finishLocal, responseHeaders, sendLocal, upstreamHeaders, type ForwardDeps } from './forward.js';

type Answer = { res: IncomingMessage; socket?: Duplex; head?: Buffer } | { error: Error };

const SAFE = /^[^\r\n]*$/;

/** The 101 head for the client: status line, the upgrade fields, then the response headers. */
function switchHead(upgrade: string, headers: Headers): string {
  let out = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${upgrade}\r\n`;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || !SAFE.test(k)) continue;
    for (const one of Array.isArray(v) ? v : [v]) if (SAFE.test(one)) out += `${k}: ${one}\r\n`;
  }
  return out + '\r\n';
}

function ask(upstream: Duplex, opts: { method: string; path: string; headers: Record<string, string | string[]> }): Promise<Answer> {
  return new Promise((resolve) => {
    const creq = httpRequest({ createConnection: () => upstream as Socket, method: opts.method, path: opts.path, headers: opts.headers });
    creq.once('upgrade', (res, socket, head) => resolve({ res, socket, head }));
    creq.once('response', (res) => resolve({ res }));
    creq.once('error', (error) => resolve({ error }));
    creq.end();
  });
}

/** Pipe `a` and `b` into each other; an abrupt close of one side resets the other. Counts bytes each way. */
function splice(client: Duplex, server: Duplex, ctx: RequestContext): void {
  const res = ctx.response!;
  res.bytes = 0;
  client.on('data', (c: Buffer) => (ctx.requestBytes += c.length));
  server.on('data', (c: Buffer) => (res.bytes! += c.length));
  client.pipe(server);
  server.pipe(client);
  for (const [from, to] of [[client, server], [server, client]] as const) {
    from.on('error', () => undefined);
    // After a clean end the pipe has ended the other side; anything else resets it.
    from.once('close', () => {
      if (!to.destroyed && !to.writableEnded) to.destroy();
    });
  }
}

export async function forwardUpgrade(ctx: RequestContext, req: FastifyRequest, reply: FastifyReply, chain: PluginChain, up: Upgrade, deps: ForwardDeps): Promise<void> {
  const route = (ctx.route ??= defaultRoute(ctx));
  // From an ingress listener, a Service with a waypoint is reached through it (./waypoint-hop), as in forward().
  const ep = (ctx.ingress ? waypointHop(route.backend, deps.mesh) : undefined) ?? candidates(route.backend, deps.mesh)[0];
  if (!ep) {
    ctx.responseFlags = NO_HEALTHY_UPSTREAM.flag;
    return finishLocal(ctx, reply, chain, NO_HEALTHY_UPSTREAM);
  }
  route.backend.endpoint = ep;
  let upstream: Duplex;
  try {
    upstream = await deps.connector.connect(ep);
  } catch (err) {
    const failure = connectFailure(classify(err).reason);
    ctx.responseFlags = failure.flag;
    return finishLocal(ctx, reply, chain, failure);
  }
  upstream.on('error', () => undefined);
  if (up.socket.destroyed) {
    upstream.destroy();
    return;
  }
  const headers = upstreamHeaders(ctx, route);
  const upgrade = String(ctx.request.headers.upgrade ?? '');
  headers.connection = 'upgrade';
  headers.upgrade = upgrade;
  const answer = await ask(upstream, { method: ctx.request.method, path: route.rewrite?.path ?? req.raw.url ?? '/', headers });
  if ('error' in answer) {
    upstream.destroy();
    const c = classify(answer.error);
    const failure = c.kind === 'timeout' ? UPSTREAM_TIMEOUT : connectFailure(c.reason);
    ctx.responseFlags = failure.flag;
    return finishLocal(ctx, reply, chain, failure);
  }
  const { res } = answer;
  ctx.response = { status: res.statusCode ?? 502, headers: responseHeaders(res.headers) };
  ctx.applyResponseHeaderOps(ctx.response.headers);
  await chain.onResponse(ctx);
  if (ctx.localReply || !answer.socket) {
    // Not switched: an ordinary response (or a plugin's reply instead of it); the upstream connection ends with it.
    if (ctx.localReply) {
      answer.socket?.destroy();
      res.destroy();
      upstream.destroy();
      return sendLocal(reply, ctx, ctx.localReply);
    }
    res.once('close', () => upstream.destroy());
    ctx.response.bytes = Number(res.headers['content-length'] ?? 0);
    reply.code(ctx.response.status).headers(ctx.response.headers).send(res);
    return;
  }
  const client = up.socket;
  const server = answer.socket;
  reply.hijack();
  if (client.destroyed) {
    server.destroy();
    return;
  }
  client.write(switchHead(String(res.headers.upgrade ?? upgrade), ctx.response.headers));
  if (answer.head?.length) client.write(answer.head);
  if (up.head.length) server.write(up.head);
  splice(client, server, ctx);
}
