// Hook calls sent to a plugin's process (npm sandbox) or worker (wasm), waiting for their results: each with a
// deadline, settled by the result that names its id, or failed all at once when the process or worker is gone.
import type { ContextChanges } from './wire.js';

/** A hook call's outcome as it comes back over the channel. */
export type CallResult = { id: number; ok: true; changes: ContextChanges } | { id: number; ok: false; error: string };

interface Pending {
  resolve(c: ContextChanges): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingCalls {
  readonly #calls = new Map<number, Pending>();

  /**
   * Waits for the result of call `id`. If none has come after `budgetMs`, runs `onDeadline`, which decides what
   * happens to the call (fail it, or fail everything with the process); until then it stays pending.
   */
  wait(id: number, budgetMs: number, onDeadline: () => void): Promise<ContextChanges> {
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject, timer: setTimeout(onDeadline, budgetMs) });
    });
  }

  /** Settles the call a result names; a result for a call no longer waited for is dropped. */
  settle(r: CallResult): void {
    const p = this.#take(r.id);
    if (!p) return;
    if (r.ok) p.resolve(r.changes);
    else p.reject(new Error(r.error));
  }

  /** Fails call `id`; false when it was no longer pending. */
  fail(id: number, err: Error): boolean {
    const p = this.#take(id);
    p?.reject(err);
    return p !== undefined;
  }

  failAll(err: Error): void {
    for (const id of [...this.#calls.keys()]) this.fail(id, err);
  }

  #take(id: number): Pending | undefined {
    const p = this.#calls.get(id);
    if (!p) return undefined;
    this.#calls.delete(id);
    clearTimeout(p.timer);
    return p;
  }
}
