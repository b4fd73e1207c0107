/** Exponential back-off with full jitter on the upper half: delay in [d/2, d], d doubling up to `maxMs`. */
export class Backoff {
  #attempt = 0;
  constructor(
    readonly initialMs = 200,
    readonly maxMs = 30_000,
  ) {}

  next(): number {
    const d = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.round(d / 2 + (Math.random() * d) / 2);
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
