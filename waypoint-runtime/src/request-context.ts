// The per-request context the plugin chain sees: request line and header fields (HTTP/2 pseudo-headers folded
// away, `host` from `:authority`), the request id (the client's x-request-id or a new one), the source (the
// tunnel's peer or the socket, X-Forwarded-For believed for `numTrustedProxies` hops) and the destination
// resolved in the mesh model. A client's own x-forwarded-client-cert is dropped here.

import { RequestContext, resolveDestination, resolveSource, trustedClientAddress, type MeshStateReader } from '@ambit/plugin-sdk';
import type { FastifyRequest } from 'fastify';
import { newRequestId, peerOf } from './peer.js';

/** An HTTP/2 request's header fields as plugins see them: no pseudo-headers, `host` from `:authority`. */
export function fieldsOf(h: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
  // :authority wins over a host field (RFC 9113 §8.3.1).
  if (h[':authority'] !== undefined) out.host = h[':authority'];
  return out;
}

export interface RequestContextOptions {
  mesh: MeshStateReader;
  /** The waypoint's namespace: short Host names resolve in it. */
  namespace: string;
  /** Cluster DNS domain for short Host names (resolveDestination's default when unset). */
  domain?: string;
  /** Hops of X-Forwarded-For trusted for the original client address. */
  numTrustedProxies: number;
}

export class RequestContexts {
  readonly #opts: RequestContextOptions;
  readonly #where: { namespace: string; domain?: string };

  constructor(opts: RequestContextOptions) {
    this.#opts = opts;
    this.#where = { namespace: opts.namespace, domain: opts.domain };
  }

  of(req: FastifyRequest): RequestContext {
    const mesh = this.#opts.mesh;
    const raw = req.raw;
    const h2 = raw.httpVersionMajor === 2;
    const peer = peerOf(raw);
    const headers = h2 ? fieldsOf(raw.headers) : req.headers;
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const query: Record<string, string> = {};
    if (rawQuery) for (const [k, v] of new URLSearchParams(rawQuery)) if (!(k in query)) query[k] = v;
    const authority = (headers.host as string | undefined) ?? peer?.authority ?? '';
    // A client's own x-forwarded-client-cert is never believed nor passed on (Istio's default: sanitize).
    delete headers['x-forwarded-client-cert'];
    const address = peer?.clientAddress ?? raw.socket.remoteAddress ?? '';
    const port = peer?.clientPort ?? raw.socket.remotePort ?? 0;
    let id = headers['x-request-id'] as string | undefined;
    if (!id) {
      id = newRequestId();
      headers['x-request-id'] = id;
    }
    const source = resolveSource(mesh, peer?.principal, address, port);
    source.remoteAddress = trustedClientAddress(headers['x-forwarded-for'], address, this.#opts.numTrustedProxies);
    return new RequestContext({
      id,
      source,
      destination: resolveDestination(mesh, peer?.authority ?? authority, this.#where),
      request: {
        method: req.method,
        path,
        rawQuery,
        query,
        headers,
        authority,
        scheme: 'http',
        protocol: h2 ? 'HTTP/2' : raw.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1',
      },
    });
  }
}
