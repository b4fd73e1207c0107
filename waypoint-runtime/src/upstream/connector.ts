// How the waypoint reaches an endpoint: an undici Dispatcher per endpoint and protocol. PlainHttpConnector opens
// plain connections to `ip:port` (tests, unmeshed destinations), speaking HTTP/1.1 or h2c; the HBONE connector
// (../hbone) tunnels each connection through an mTLS HTTP/2 CONNECT stream to the destination's ztunnel on
// :15008. `connect` opens one raw byte stream to the endpoint, for requests that upgrade (WebSocket).

import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '@ambit/plugin-sdk';
import { Pool, type Dispatcher } from 'undici';
import type { UpstreamProtocol } from './protocol.js';

export interface UpstreamConnector {
  /** A dispatcher that sends requests to `endpoint` over HTTP/1.1 (default) or h2c (keep-alive, pooled). */
  dispatcherFor(endpoint: Endpoint, protocol?: UpstreamProtocol): Dispatcher;
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

const H2_STREAMS = 100;
/**
 * undici options for h2c pools (prior knowledge: the connection starts with the HTTP/2 preface): up to 4
 * sessions per endpoint, each carrying up to 100 concurrent requests.
 */
export const H2_POOL = { connections: 4, pipelining: H2_STREAMS, allowH2: true, useH2c: true, maxConcurrentStreams: H2_STREAMS } as const;

/** Default bound on the pools one connector keeps (one per endpoint and protocol). */
export const DEFAULT_MAX_POOLS = 1024;

/**
 * Keeps one pool per key, created on first use, at most `max` of them: endpoints come from peers' destinations
 * (a workload reached on any port), so the least recently used pool is closed (gracefully: its requests in
 * flight finish) to make room for a new one.
 */
export class PoolCache<D extends Dispatcher> {
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

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class PlainHttpConnector implements UpstreamConnector {
  readonly #pools: PoolCache<Pool>;
  readonly #connectTimeoutMs: number;
  constructor(opts: PoolOptions = {}) {
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.#pools = new PoolCache((key) => {
      const h2 = key.startsWith('h2|');
      const origin = h2 ? key.slice(3) : key;
      const common = { keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000, connect: { timeout: this.#connectTimeoutMs } };
      return h2
        ? new Pool(origin, { ...common, ...H2_POOL })
        : new Pool(origin, { ...common, connections: opts.connections ?? 128, pipelining: 1 });
    }, opts.maxPools);
  }
  dispatcherFor(endpoint: Endpoint, protocol: UpstreamProtocol = 'http1'): Dispatcher {
    const origin = `http://${hostPort(endpoint.address, endpoint.port)}`;
    return this.#pools.get(protocol === 'h2' ? `h2|${origin}` : origin);
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
