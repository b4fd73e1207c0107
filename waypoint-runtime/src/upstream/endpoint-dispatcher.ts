// The dispatcher @fastify/reply-from sends the waypoint's requests through, so that reply-from (registered once per
// waypoint app) does the proxying plumbing (calling the upstream, scheduling retries, setting the status, skipping
// aborted requests) while the endpoint is ours: each request carries, under a symbol in its headers, the exchange
// forward() prepared for it, which sends the current attempt to the connector's pool for the endpoint it chose
// (HTTP/1.1 or h2c, plain or HBONE). reply-from's own view of the request (URL, headers) is not used: the
// exchange sends the bytes the waypoint computed (raw path, Envoy's header rules), unchanged from before.

import replyFrom, { type FastifyReplyFromOptions } from '@fastify/reply-from';
import type { FastifyInstance } from 'fastify';
import type { UpstreamResponse } from './h2.js';

/** The URL handed to reply.from(): a placeholder, the exchange knows the endpoint and the path. */
export const UPSTREAM_URL = 'http://upstream.invalid/';

/** The header-object key under which forward() hands reply-from's dispatcher its exchange. */
export const EXCHANGE = Symbol('ambit.upstream-exchange');

/** One forwarded request: sends its current attempt (endpoint, timeout) upstream. */
export interface UpstreamExchange {
  send(): Promise<UpstreamResponse>;
}

type Callback = (err: Error | null, data?: UpstreamResponse) => void;

/** undici's callback `request(opts, cb)`, the one call reply-from makes of a dispatcher it is given. */
export const endpointDispatcher = {
  request(opts: { headers?: Record<string | symbol, unknown> }, cb: Callback): void {
    const exchange = opts.headers?.[EXCHANGE] as UpstreamExchange | undefined;
    if (!exchange) {
      cb(new Error('reply.from() called without an upstream exchange: forward through upstream/forward.ts'));
      return;
    }
    exchange.send().then(
      (res) => cb(null, res),
      (err: Error) => cb(err),
    );
  },
};

/** How the waypoint's Fastify app registers @fastify/reply-from. */
const REPLY_FROM_OPTIONS = {
  undici: endpointDispatcher as unknown as NonNullable<FastifyReplyFromOptions['undici']>,
  disableRequestLogging: true,
} satisfies FastifyReplyFromOptions;

/** Gives `app` reply.from(), which forward() proxies through, sending through the connector's pools (see above). */
export function registerForwarding(app: FastifyInstance): void {
  void app.register(replyFrom, REPLY_FROM_OPTIONS);
}
