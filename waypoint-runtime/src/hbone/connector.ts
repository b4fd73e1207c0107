// Upstream over HBONE: for an endpoint whose workload is captured (protocol HBONE), an undici Pool whose every
// connection is a CONNECT stream to `podIP:15008` with authority `podIP:targetPort`, mTLS with the waypoint's
// certificate, the endpoint's SPIFFE identity verified. Streams multiplex over pooled HTTP/2 sessions (the
// HboneClient's pool); HTTP/1.1 keep-alive runs inside each stream. TCP endpoints go through the plain connector.

import type { Endpoint } from '@ambit/plugin-sdk';
import { HboneClient, type WorkloadCertificate } from '@ambit/ztunnel-runtime';
import { Pool, type Dispatcher } from 'undici';
import { hostPort, PlainHttpConnector, PoolCache, type UpstreamConnector } from '../upstream/connector.js';
import { StreamDuplex } from './duplex.js';

export interface HboneConnectorOptions {
  /** The waypoint's current certificate (renewals are picked up by new connections). */
  certificate: () => WorkloadCertificate;
  client?: HboneClient;
  plain?: UpstreamConnector;
  /** Destination HBONE port. Default 15008. */
  hbonePort?: number;
  /** HTTP/1.1 connections (CONNECT streams) per endpoint. Default 64. */
  connections?: number;
  /** Extra CONNECT headers (baggage). */
  headers?: Record<string, string>;
}

export class HboneConnector implements UpstreamConnector {
  readonly client: HboneClient;
  readonly #plain: UpstreamConnector;
  readonly #pools: PoolCache<Pool>;
  readonly #byKey = new Map<string, Endpoint>();

  constructor(opts: HboneConnectorOptions) {
    this.client = opts.client ?? new HboneClient();
    this.#plain = opts.plain ?? new PlainHttpConnector();
    this.#pools = new PoolCache((key) => {
      const ep = this.#byKey.get(key)!;
      const authority = hostPort(ep.address, ep.port);
      return new Pool(`http://${authority}`, {
        connections: opts.connections ?? 64,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connect: (_o, cb) => {
          this.client
            .connect({
              nextHop: { host: ep.address, port: opts.hbonePort ?? 15008 },
              authority,
              expectedIdentities: ep.identity ? [ep.identity] : [],
              certificate: opts.certificate(),
              headers: opts.headers,
            })
            .then(
              (stream) => cb(null, new StreamDuplex(stream, { remoteAddress: ep.address, remotePort: ep.port }) as never),
              (err: Error & { code?: string }) => {
                err.code ??= 'HBONE_CONNECT';
                cb(err, null);
              },
            );
        },
      });
    });
  }

  dispatcherFor(endpoint: Endpoint): Dispatcher {
    if (endpoint.protocol !== 'HBONE') return this.#plain.dispatcherFor(endpoint);
    const key = `${endpoint.address}|${endpoint.port}|${endpoint.identity ?? ''}`;
    if (!this.#byKey.has(key)) this.#byKey.set(key, endpoint);
    return this.#pools.get(key);
  }

  async close(): Promise<void> {
    await this.#pools.close();
    await this.#plain.close();
    this.client.close();
  }
}
