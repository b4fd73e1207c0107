// Kubernetes' container restart back-off: 10s doubling up to 5m; reset after a container ran 10 minutes cleanly.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const kubeletBackoff: BackoffPolicy = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

export class Backoff {
  private delayMs = 0;
  private lastStart = 0;
  constructor(private readonly policy: BackoffPolicy = kubeletBackoff) {}

  /** Call when the container (re)starts. */
  started(now: number): void {
    this.lastStart = now;
  }

  /**
   * Call when the container ended and will be restarted: how long to wait first. The first restart is immediate
   * (as the kubelet does), then 10s, 20s, 40s, ... 5m; a run longer than resetAfter starts over.
   */
  next(now: number): number {
    if (this.lastStart && now - this.lastStart >= this.policy.resetAfterMs) this.delayMs = 0;
    const wait = this.delayMs;
    this.delayMs = this.delayMs === 0 ? this.policy.initialMs : Math.min(this.delayMs * 2, this.policy.maxMs);
    return wait;
  }

  /** Forget the back-off (a restart the container did not cause, e.g. its sandbox was re-created). */
  reset(): void {
    this.delayMs = 0;
  }

  get current(): number {
    return this.delayMs;
  }
}

/** "10s", "1m20s", "5m0s": the spelling of Go's time.Duration the kubelet uses in back-off messages. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m${s % 60}s`;
}
