// The one exponential back-off of the repository: every place that retries after a delay (the config stream and CA
// clients, the controller's informers, work queue and root publisher, ztunnel's ZDS client and node agent, the
// plugin sandbox) asks it for the next delay, keeping its own initial and maximum values.

export interface BackoffOptions {
  /** The first delay (ms). */
  initialMs: number;
  /** The cap (ms): the delay doubles up to it (an initialMs above it is capped too). */
  maxMs: number;
  /**
   * The random share of each delay, 0..1: the delay d (initialMs * 2^attempt, capped) becomes a uniform draw in
   * [d * (1 - jitter), d]. 0 (the default) is plain doubling; 0.5 spreads reconnecting clients over the upper half.
   */
  jitter?: number;
  /** For tests: the source of randomness (default Math.random). */
  random?: () => number;
}

/** The delay before retry number `attempt` (0 = the first retry): initialMs * 2^attempt, capped at maxMs, jittered. */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const { initialMs, maxMs } = opts;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0));
  // 2^30 times any sensible initial delay is past any cap: no need to let the exponent grow further.
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
  if (jitter === 0) return d;
  return Math.round(d * (1 - jitter) + (opts.random ?? Math.random)() * d * jitter);
}

/** A back-off with its attempt counter: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  #attempt = 0;
  readonly #opts: BackoffOptions;

  constructor(opts: BackoffOptions) {
    if (!(opts.initialMs >= 0) || !(opts.maxMs >= 0)) throw new RangeError(`back-off delays must be numbers >= 0, got initialMs ${opts.initialMs} and maxMs ${opts.maxMs}`);
    this.#opts = { ...opts };
  }

  get initialMs(): number {
    return this.#opts.initialMs;
  }

  get maxMs(): number {
    return this.#opts.maxMs;
  }

  /** The delay before the next retry; counts the attempt. */
  next(): number {
    return backoffDelay(this.#attempt++, this.#opts);
  }

  /** The delay `next()` would return, without counting an attempt (exact when there is no jitter). */
  peek(): number {
    return backoffDelay(this.#attempt, this.#opts);
  }

  /** After a success: the next failure starts again from initialMs. */
  reset(): void {
    this.#attempt = 0;
  }

  /** Failures counted since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }
}
