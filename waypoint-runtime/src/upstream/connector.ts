// How the waypoint reaches an endpoint: a dispatcher per endpoint and protocol (an undici Pool for HTTP/1.1, an
// ./h2 H2Dispatcher for h2c). PlainHttpConnector opens plain connections to `ip:port` (tests, unmeshed
// destinations), speaking HTTP/1.1 or h2c; the HBONE connector
// (../hbone) tunnels each connection through an mTLS HTTP/2 CONNECT stream to the destination's ztunnel on
// :15008. `connect` opens one raw byte stream to the endpoint, for requests that upgrade (WebSocket).

import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '@ambit/plugin-sdk';
import { Pool, type Dispatcher } from 'undici';
import { H2Dispatcher, type UpstreamDispatcher, type UpstreamResponse } from './h2.js';
import type { UpstreamProtocol } from './protocol.js';

export interface UpstreamConnector {
  /** A dispatcher that sends requests to `endpoint` over HTTP/1.1 (default) or h2c (keep-alive, pooled). */
  dispatcherFor(endpoint: Endpoint, protocol?: UpstreamProtocol): UpstreamDispatcher;
  /** A new byte stream to `endpoint`, not pooled (an upgraded connection owns it). */
  connect(endpoint: Endpoint): Promise<Duplex>;
  close(): Promise<void>;
}

export interface PoolOptions {
  /** HTTP/1.1 connections per endpoint. Default 128. */
  connections?: number;
  /** Pools kept (endpoint x protocol); the least recently used is closed beyond it. Default 1024. */
  maxPools?: number;
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * h2c (prior knowledge: the connection starts with the HTTP/2 preface) goes through ./h2, not undici (see there
 * why): up to 4 sessions per endpoint, each carrying up to 100 concurrent requests.
 */
export const H2_SESSIONS = { sessions: 4, maxConcurrentStreams: 100 } as const;

/** Default bound on the pools one connector keeps (one per endpoint and protocol). */
export const DEFAULT_MAX_POOLS = 1024;

/**
 * Keeps one pool per key, created on first use, at most `max` of them: endpoints come from peers' destinations
 * (a workload reached on any port), so the least recently used pool is closed (gracefully: its requests in
 * flight finish) to make room for a new one.
 */
export class PoolCache<D extends { close(): Promise<unknown> }> {
  readonly #pools = new Map<string, D>();
  readonly #max: number;
  constructor(private readonly create: (key: string) => D, max = DEFAULT_MAX_POOLS) {
    this.#max = Math.max(1, max);
  }
  get size(): number {
    return this.#pools.size;
  }
  get(key: string, create: (key: string) => D = this.create): D {
    let p = this.#pools.get(key);
    if (p) {
      // Most recently used last: Map order is the eviction order.
      this.#pools.delete(key);
    } else {
      if (this.#pools.size >= this.#max) {
        const [oldKey, old] = this.#pools.entries().next().value!;
        this.#pools.delete(oldKey);
        old.close().catch(() => undefined);
      }
      p = create(key);
    }
    this.#pools.set(key, p);
    return p;
  }
  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }
}

/** An undici Pool (HTTP/1.1) as an {@link UpstreamDispatcher}. */
export function http1Dispatcher(pool: Pool): UpstreamDispatcher {
  return {
    request: (o) => pool.request({ ...o, method: o.method as Dispatcher.HttpMethod, body: (o.body ?? null) as Dispatcher.DispatchOptions['body'] }) as unknown as Promise<UpstreamResponse>,
    close: () => pool.close(),
  };
}

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class PlainHttpConnector implements UpstreamConnector {
  readonly #pools: PoolCache<UpstreamDispatcher>;
  readonly #connectTimeoutMs: number;
  readonly #keepAliveTimeoutMs: number;
  constructor(opts: PoolOptions = {}) {
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.#keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 30_000;
    this.#pools = new PoolCache<UpstreamDispatcher>(
      (origin) => http1Dispatcher(new Pool(origin, { keepAliveTimeout: this.#keepAliveTimeoutMs, connect: { timeout: this.#connectTimeoutMs }, connections: opts.connections ?? 128, pipelining: 1 })),
      opts.maxPools,
    );
  }
  dispatcherFor(endpoint: Endpoint, protocol: UpstreamProtocol = 'http1'): UpstreamDispatcher {
    const origin = `http://${hostPort(endpoint.address, endpoint.port)}`;
    if (protocol !== 'h2') return this.#pools.get(origin);
    const ep = { ...endpoint };
    return this.#pools.get(`h2|${origin}`, () => new H2Dispatcher(origin, { ...H2_SESSIONS, idleTimeoutMs: this.#keepAliveTimeoutMs, open: () => this.connect(ep) }));
  }
  connect(endpoint: Endpoint): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: endpoint.address, port: endpoint.port });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), this.#connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }
  close(): Promise<void> {
    return this.#pools.close();
  }
}
