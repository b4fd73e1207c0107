// Container logs in the CRI format (`<RFC3339 time> <stdout|stderr> <F|P> <text>`), one file per container run, so
// `kubectl logs` can have --timestamps, --since, --tail and --previous.
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import type { LogOptions } from './runtime.js';

/** Splits a stream's output into lines and appends them to the log file; flushes a pending partial line when idle. */
export class LogWriter {
  private readonly out: WriteStream;
  private readonly pending: Record<'stdout' | 'stderr', { buf: string; timer?: NodeJS.Timeout }> = {
    stdout: { buf: '' },
    stderr: { buf: '' },
  };

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'a', mode: 0o640 });
    this.out.on('error', () => undefined);
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    const p = this.pending[stream];
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    const text = p.buf + chunk.toString();
    const lines = text.split('\n');
    p.buf = lines.pop() ?? '';
    const ts = new Date().toISOString();
    for (const line of lines) this.out.write(`${ts} ${stream} F ${line}\n`);
    if (p.buf.length > 16384) this.flushPartial(stream);
    else if (p.buf) p.timer = setTimeout(() => this.flushPartial(stream), 200);
  }

  private flushPartial(stream: 'stdout' | 'stderr'): void {
    const p = this.pending[stream];
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    if (!p.buf) return;
    this.out.write(`${new Date().toISOString()} ${stream} P ${p.buf}\n`);
    p.buf = '';
  }

  close(): Promise<void> {
    this.flushPartial('stdout');
    this.flushPartial('stderr');
    return new Promise((resolve) => this.out.end(resolve));
  }
}

export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  text: string;
}

export function parseLogLine(line: string): LogRecord | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', text: m[4]! };
}

export function formatRecord(r: LogRecord, timestamps: boolean): string {
  return `${timestamps ? `${r.time} ` : ''}${r.text}${r.partial ? '' : '\n'}`;
}

/** Apply --since, --tail and --timestamps to a whole log file's text. */
export function renderLog(content: string, opts: Pick<LogOptions, 'tailLines' | 'timestamps' | 'sinceSeconds'>, now = Date.now()): string {
  let records = content
    .split('\n')
    .filter(Boolean)
    .map(parseLogLine)
    .filter((r): r is LogRecord => !!r);
  if (opts.sinceSeconds !== undefined) {
    const since = now - opts.sinceSeconds * 1000;
    records = records.filter((r) => Date.parse(r.time) >= since);
  }
  if (opts.tailLines !== undefined) {
    // Count whole lines: a run of partial records ends with a full one.
    let lines = 0;
    let i = records.length;
    while (i > 0) {
      const r = records[i - 1]!;
      if (!r.partial) {
        if (lines === opts.tailLines) break;
        lines++;
      }
      i--;
    }
    records = records.slice(i);
  }
  return records.map((r) => formatRecord(r, opts.timestamps)).join('');
}

/**
 * A readable stream of the log: what is there now, then (follow) what gets appended, until `done()` says the
 * container run is over and the file is read to its end. The file stays open while followed: a deleted pod's
 * directory goes away right after its last lines are written, and those lines must still reach the follower.
 */
export async function openLog(path: string, opts: LogOptions, done: () => boolean): Promise<Readable> {
  const out = new PassThrough();
  const limit = opts.limitBytes;
  let sent = 0;
  const push = (s: string): boolean => {
    if (!s) return true;
    let buf = Buffer.from(s);
    if (limit !== undefined) {
      if (sent >= limit) return false;
      if (sent + buf.length > limit) buf = buf.subarray(0, limit - sent);
    }
    sent += buf.length;
    out.write(buf);
    return limit === undefined || sent < limit;
  };
  let fh: FileHandle | undefined;
  let offset = 0;
  /** The bytes appended since the last call ('' when none, or no file yet). */
  const readNew = async (): Promise<string> => {
    if (!fh) fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return '';
    const { size } = await fh.stat();
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    offset += bytesRead;
    return buf.subarray(0, bytesRead).toString('utf8');
  };
  const finish = (): void => {
    out.end();
    void fh?.close().catch(() => undefined);
  };
  const keepGoing = push(renderLog(await readNew(), opts));
  if (!opts.follow || !keepGoing) {
    finish();
    return out;
  }
  let carry = '';
  let closed = false;
  out.on('close', () => (closed = true));
  const tick = async (): Promise<void> => {
    if (closed) return finish();
    try {
      // Decided before reading: whatever was written up to the end of the run is read below.
      const ended = done();
      const lines = (carry + (await readNew())).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) {
        const r = parseLogLine(l);
        if (r && !push(formatRecord(r, opts.timestamps))) return finish();
      }
      if (ended) return finish();
    } catch {
      return finish();
    }
    setTimeout(() => void tick(), 200);
  };
  setTimeout(() => void tick(), 200);
  return out;
}

