// The waypoint's default access-log sink: lines batched into one stdout write per event-loop turn, because a
// write per line costs a syscall per request.

import type { AccessLogSink } from '@ambit/plugin-sdk';

/** Lines written to `out` (default stdout), one write per event-loop turn, each line ended by a newline. */
export function bufferedStdout(out: { write(chunk: string): unknown } = process.stdout): AccessLogSink {
  let buf: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const text = buf.join('\n') + '\n';
    buf = [];
    out.write(text);
  };
  return {
    write(line: string) {
      buf.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}
