// Loggers on one sink and one threshold per process: `logger(scope)`, `child(scope, fields)`, and a memory sink for
// tests. Not pino: importing it costs ~16 ms and ~8 MB of RSS, and its JSON lines would need re-parsing (~4.5 µs a line
// against ~1 µs here) to come out in Istio's text form synchronously, without its worker-thread transports.
import { formatFields, formatLine, rank, type Fields, type Level, type LogLevel } from './format.js';
import { levelFromEnv } from './level.js';

/** The four levels; what a component needs to write (tests may pass an object with just these). */
export interface LevelLogger {
  error(msg: string, fields?: Fields | string): void;
  warn(msg: string, fields?: Fields | string): void;
  info(msg: string, fields?: Fields | string): void;
  debug(msg: string, fields?: Fields | string): void;
}

export interface Logger extends LevelLogger {
  /** A logger whose lines carry `<scope>::<child scope>` and these fields too. */
  child(scope: string, fields?: Fields): Logger;
}

/** What a component that writes structured info and warn lines takes (error and debug optional); any Logger is one. */
export interface PartialLogger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error?(msg: string, fields?: Fields): void;
  debug?(msg: string, fields?: Fields): void;
}

export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => void process.stderr.write(line + '\n');
let sink: LogSink = stderrSink;
const initial = levelFromEnv();
let threshold = rank(initial.level);
if (initial.problem) stderrSink(formatLine('warn', 'log', initial.problem));

/** Replaces where log lines go (tests capture them). Returns the previous sink. */
export function setLogSink(s: LogSink): LogSink {
  const prev = sink;
  sink = s;
  return prev;
}

/** The process's threshold, for every logger not given its own. */
export function setLogLevel(level: LogLevel): void {
  threshold = rank(level);
}

export function levelEnabled(level: Level): boolean {
  return rank(level) <= threshold;
}

export interface LoggerOptions {
  /** Fields every line carries. */
  fields?: Fields;
  /** Its own threshold instead of the process's. */
  level?: LogLevel;
  /** Its own sink instead of the process's (read at each line, so `setLogSink` also catches loggers made earlier). */
  sink?: LogSink;
}

/** The base fields first, then the call's: a pre-formatted `k=v` string is appended, not put in their place. */
function withBase(base: Fields | undefined, fields: Fields | string | undefined): Fields | string | undefined {
  if (base === undefined) return fields;
  if (typeof fields !== 'string') return { ...base, ...fields };
  const head = formatFields(base);
  return head && fields ? `${head} ${fields}` : head || fields;
}

export function logger(scope: string, opts: LoggerOptions = {}): Logger {
  const base = opts.fields;
  const own = opts.level === undefined ? undefined : rank(opts.level);
  const emit = (level: Level) => (msg: string, fields?: Fields | string) => {
    if (rank(level) > (own ?? threshold)) return;
    (opts.sink ?? sink)(formatLine(level, scope, msg, withBase(base, fields)));
  };
  return {
    error: emit('error'),
    warn: emit('warn'),
    info: emit('info'),
    debug: emit('debug'),
    child: (s, f) => logger(scope ? `${scope}::${s}` : s, { ...opts, fields: base || f ? { ...base, ...f } : undefined }),
  };
}

/** A logger that drops everything. */
export const nullLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child: () => nullLogger,
};

/** A logger that keeps its lines in memory (tests), at `debug` unless told. */
export function memoryLogger(scope: string, level: LogLevel = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(logger(scope, { level, sink: (l) => void lines.push(l) }), { lines });
}
