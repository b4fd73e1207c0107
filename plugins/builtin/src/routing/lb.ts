// Endpoint choice for a backend: DestinationRule `loadBalancer.simple` ROUND_ROBIN | RANDOM | LEAST_REQUEST
// (Istio's default; power of two choices on in-flight requests). LEAST_CONN is treated as LEAST_REQUEST.

import type { Endpoint } from '@ambit/plugin-sdk';

export type LbPolicy = 'ROUND_ROBIN' | 'RANDOM' | 'LEAST_REQUEST' | 'LEAST_CONN' | 'PASSTHROUGH' | 'UNSPECIFIED';

const key = (e: Endpoint) => `${e.address}:${e.port}`;

export class LoadBalancer {
  readonly #rr = new Map<string, number>();
  readonly #inflight = new Map<string, number>();
  constructor(private readonly random: () => number = Math.random) {}

  /** Order endpoints: the chosen one first, then the others (retry alternatives). */
  pick(pool: string, eps: Endpoint[], policy: LbPolicy | undefined): Endpoint[] {
    if (eps.length <= 1) return eps;
    let i: number;
    switch (policy) {
      case 'ROUND_ROBIN': {
        i = (this.#rr.get(pool) ?? 0) % eps.length;
        this.#rr.set(pool, i + 1);
        break;
      }
      case 'RANDOM':
        i = Math.floor(this.random() * eps.length);
        break;
      default: {
        const a = Math.floor(this.random() * eps.length);
        let b = Math.floor(this.random() * (eps.length - 1));
        if (b >= a) b++;
        i = this.inflight(eps[b]!) < this.inflight(eps[a]!) ? b : a;
      }
    }
    return [...eps.slice(i), ...eps.slice(0, i)];
  }

  inflight(e: Endpoint): number {
    return this.#inflight.get(key(e)) ?? 0;
  }
  begin(e: Endpoint): void {
    this.#inflight.set(key(e), this.inflight(e) + 1);
  }
  end(e: Endpoint): void {
    const n = this.inflight(e) - 1;
    if (n <= 0) this.#inflight.delete(key(e));
    else this.#inflight.set(key(e), n);
  }
}
