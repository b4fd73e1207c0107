// The request handler behind the waypoint's one Fastify route: a request gets its context, is held to the
// listener's rules (an ingress listener by Host, the plain listener by the bound destinations), passes the plugin
// chain, and is answered locally or forwarded; the access log (chain.onLog) runs once when the response closes.
//
// Fastify's own hooks are not used for the log or the errors: onResponse fires on 'finish', which a client that
// disconnects (flag DC) or an upgraded request (101) never reaches, and the 500 answer needs the request's context.

import type { InMemoryMeshState, Logger, PluginChain } from '@ambit/plugin-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConfigState } from './config-state.js';
import type { ServedConnections } from './connections.js';
import type { IngressListeners } from './ingress/listeners.js';
import { peerOf } from './peer.js';
import type { RequestContexts } from './request-context.js';
import { upgradeOf } from './server/upgrade.js';
import type { UpstreamConnector } from './upstream/connector.js';
import { forward, sendLocal } from './upstream/forward.js';
import { forwardUpgrade } from './upstream/upgrade.js';

export interface RequestPipelineParts {
  /** The chain now; a request keeps the chain it started with. */
  chain(): PluginChain;
  contexts: RequestContexts;
  connections: ServedConnections;
  config: ConfigState;
  ingress: IngressListeners;
  connector: UpstreamConnector;
  mesh: InMemoryMeshState;
  logger: Logger;
}

export class RequestPipeline {
  readonly #p: RequestPipelineParts;
  /** What forward() needs, built once. */
  readonly #deps: { connector: UpstreamConnector; mesh: InMemoryMeshState; logger: Logger };

  constructor(parts: RequestPipelineParts) {
    this.#p = parts;
    this.#deps = { connector: parts.connector, mesh: parts.mesh, logger: parts.logger };
  }

  async handle(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const p = this.#p;
    const chain = p.chain();
    const ctx = p.contexts.of(req);
    const end = p.connections.begin(req.raw);
    const h2 = req.raw.httpVersionMajor === 2;
    const upgrade = h2 ? undefined : upgradeOf(req.raw);
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      end();
      // An upgraded request lasts as long as its connection; it ends without a "finished" response.
      if (!reply.raw.writableFinished && ctx.response?.status !== 101) {
        ctx.responseFlags = ctx.responseFlags === '-' ? 'DC' : ctx.responseFlags;
        ctx.response ??= { status: 0, headers: {} };
      }
      chain.onLog(ctx).catch(() => undefined);
    };
    reply.raw.once('close', done);
    if (p.connections.draining && !h2) reply.header('connection', 'close');
    try {
      const peer = peerOf(req.raw);
      // An ingress listener serves only its routes' backends: the listener is chosen by Host (404 without one).
      const refused = peer?.ingress ? p.ingress.enter(ctx, peer.ingress) : true;
      if (refused !== true) {
        ctx.responseFlags = 'NR';
        sendLocal(reply, ctx, { status: refused, body: '' });
        return reply;
      }
      // Tunnels were admitted by their CONNECT authority; the plain listener routes by Host, held to the same rule.
      if (!peer) {
        const admission = p.config.admitResolved(ctx.destination);
        if (!admission.ok) {
          p.logger.debug('request refused', { authority: ctx.request.authority, reason: admission.reason });
          ctx.responseFlags = 'NR';
          sendLocal(reply, ctx, { status: 404, body: '' });
          return reply;
        }
      }
      await chain.onRequest(ctx);
      const lr = ctx.localReply;
      if (lr) {
        ctx.responseFlags = lr.flag ?? ctx.responseFlags;
        ctx.response = { status: lr.status, headers: { ...lr.headers } };
        ctx.applyResponseHeaderOps(ctx.response.headers);
        await chain.onResponse(ctx);
        const final = ctx.localReply ?? lr;
        sendLocal(reply, ctx, { status: ctx.response.status === lr.status ? final.status : ctx.response.status, body: final.body, headers: ctx.response.headers as Record<string, string> });
        return reply;
      }
      // Never an arbitrary Host from an ingress listener: only a backend a route chose.
      if (peer?.ingress && (!ctx.route || ctx.route.name === 'default')) {
        ctx.responseFlags = 'NR';
        sendLocal(reply, ctx, { status: 404, body: '' });
        return reply;
      }
      if (upgrade) await forwardUpgrade(ctx, req, reply, chain, upgrade, this.#deps);
      else await forward(ctx, req, reply, chain, this.#deps);
    } catch (err) {
      p.logger.error('request failed', { error: (err as Error).message, path: ctx.request.path });
      if (!reply.sent) sendLocal(reply, ctx, { status: 500, body: 'internal error' });
    }
    return reply;
  }
}
