// How the waypoint reaches an endpoint: an undici Dispatcher per endpoint. PlainHttpConnector opens plain
// HTTP/1.1 connections to `ip:port` (tests, unmeshed destinations); the HBONE connector (../hbone) tunnels each
// connection through an mTLS HTTP/2 CONNECT stream to the destination's ztunnel on :15008.

import type { Endpoint } from '@ambit/plugin-sdk';
import { Pool, type Dispatcher } from 'undici';

export interface UpstreamConnector {
  /** A dispatcher that sends HTTP/1.1 requests to `endpoint` (keep-alive, pooled). */
  dispatcherFor(endpoint: Endpoint): Dispatcher;
  close(): Promise<void>;
}

export interface PoolOptions {
  /** Connections per endpoint. Default 128. */
  connections?: number;
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** Keeps one pool per key, created on first use. */
export class PoolCache<D extends Dispatcher> {
  readonly #pools = new Map<string, D>();
  constructor(private readonly create: (key: string) => D) {}
  get(key: string): D {
    let p = this.#pools.get(key);
    if (!p) {
      p = this.create(key);
      this.#pools.set(key, p);
    }
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
  constructor(opts: PoolOptions = {}) {
    this.#pools = new PoolCache(
      (origin) =>
        new Pool(origin, {
          connections: opts.connections ?? 128,
          keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
          connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
          pipelining: 1,
        }),
    );
  }
  dispatcherFor(endpoint: Endpoint): Dispatcher {
    return this.#pools.get(`http://${hostPort(endpoint.address, endpoint.port)}`);
  }
  close(): Promise<void> {
    return this.#pools.close();
  }
}
