// Upstream over HBONE: for an endpoint whose workload is captured (protocol HBONE), a pool (undici's for HTTP/1.1,
// ../upstream/h2's for h2c) whose every connection is a CONNECT stream to `podIP:15008` with authority `podIP:targetPort` (or to a Service's waypoint, `endpoint.via`, with authority `VIP:port`), mTLS with the waypoint's
// certificate, the endpoint's SPIFFE identity verified. Streams multiplex over pooled HTTP/2 sessions (the
// HboneClient's pool); inside each stream runs HTTP/1.1 keep-alive or, for h2c upstreams, an HTTP/2 session of
// its own (prior knowledge). TCP endpoints go through the plain connector.

import type { Duplex } from 'node:stream';
import type { Endpoint } from '@ambit/plugin-sdk';
import { HboneClient, type WorkloadCertificate } from '@ambit/mesh-api';
import { Pool } from 'undici';
import { H2_SESSIONS, hostPort, http1Dispatcher, PlainHttpConnector, PoolCache, type UpstreamConnector } from '../upstream/connector.js';
import { H2Dispatcher, type UpstreamDispatcher } from '../upstream/h2.js';
import type { UpstreamProtocol } from '../upstream/protocol.js';
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
  /** Pools kept (endpoint x identity x protocol); the least recently used is closed beyond it. Default 1024. */
  maxPools?: number;
  /** Extra CONNECT headers (baggage). */
  headers?: Record<string, string>;
}

export class HboneConnector implements UpstreamConnector {
  readonly client: HboneClient;
  readonly #plain: UpstreamConnector;
  readonly #pools: PoolCache<UpstreamDispatcher>;
  readonly #opts: HboneConnectorOptions;

  constructor(opts: HboneConnectorOptions) {
    this.#opts = opts;
    this.client = opts.client ?? new HboneClient();
    this.#plain = opts.plain ?? new PlainHttpConnector();
    this.#pools = new PoolCache<UpstreamDispatcher>(() => {
      throw new Error('HBONE pools are created with their endpoint');
    }, opts.maxPools);
  }

  #createPool(ep: Endpoint, protocol: UpstreamProtocol): UpstreamDispatcher {
    const origin = `http://${hostPort(ep.address, ep.port)}`;
    if (protocol === 'h2') return new H2Dispatcher(origin, { ...H2_SESSIONS, idleTimeoutMs: 30_000, open: () => this.#open(ep) });
    const connect: Pool.Options['connect'] = (_o, cb) => {
      this.#open(ep).then(
        (conn) => cb(null, conn as never),
        (err: Error) => cb(err, null),
      );
    };
    return http1Dispatcher(new Pool(origin, { connections: this.#opts.connections ?? 64, pipelining: 1, keepAliveTimeout: 30_000, connect }));
  }

  #open(ep: Endpoint): Promise<StreamDuplex> {
    return this.client
      .connect({
        // A Service's waypoint takes the CONNECT for the Service's VIP (ep.via); a captured pod takes it on :15008.
        nextHop: ep.via ? { host: ep.via.address, port: ep.via.port } : { host: ep.address, port: this.#opts.hbonePort ?? 15008 },
        authority: hostPort(ep.address, ep.port),
        expectedIdentities: ep.identity ? [ep.identity] : [],
        certificate: this.#opts.certificate(),
        headers: this.#opts.headers,
      })
      .then(
        (stream) => new StreamDuplex(stream, { remoteAddress: ep.address, remotePort: ep.port }),
        (err: Error & { code?: string }) => {
          err.code ??= 'HBONE_CONNECT';
          throw err;
        },
      );
  }

  dispatcherFor(endpoint: Endpoint, protocol: UpstreamProtocol = 'http1'): UpstreamDispatcher {
    if (endpoint.protocol !== 'HBONE') return this.#plain.dispatcherFor(endpoint, protocol);
    const via = endpoint.via ? `${endpoint.via.address}:${endpoint.via.port}` : '';
    const key = `${endpoint.address}|${endpoint.port}|${endpoint.identity ?? ''}|${via}|${protocol}`;
    return this.#pools.get(key, () => this.#createPool({ ...endpoint }, protocol));
  }

  connect(endpoint: Endpoint): Promise<Duplex> {
    if (endpoint.protocol !== 'HBONE') return this.#plain.connect(endpoint);
    return this.#open(endpoint);
  }

  async close(): Promise<void> {
    await this.#pools.close();
    await this.#plain.close();
    this.client.close();
  }
}
