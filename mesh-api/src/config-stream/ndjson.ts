// The push stream's framing: NDJSON, one message a line. A line longer than the cap is reported once and skipped
// to its end, so a peer cannot grow the buffer without bound; blank lines are dropped.

export type NdjsonEvent = { line: string } | { tooLong: true };

export class NdjsonLines {
  #buf = '';
  #skipping = false;

  /** `max`: the longest accepted line, in characters. */
  constructor(private readonly max: number) {}

  /** What `chunk` completes, in order: whole lines, and an event for each line over the cap. */
  push(chunk: string): NdjsonEvent[] {
    const out: NdjsonEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) break;
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      const line = this.#buf + piece;
      this.#buf = '';
      if (line.length > this.max) {
        out.push({ tooLong: true });
        continue;
      }
      if (line.trim()) out.push({ line });
    }
    if (!this.#skipping) {
      this.#buf += chunk.slice(start);
      if (this.#buf.length > this.max) {
        this.#buf = '';
        this.#skipping = true;
        out.push({ tooLong: true });
      }
    }
    return out;
  }
}
