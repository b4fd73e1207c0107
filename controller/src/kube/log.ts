// Structured logs: one line per event, `time=… level=… scope=… msg="…" key=value …` on stderr.
// Values with spaces, quotes or `=` are JSON-quoted. Never pass keys or tokens as fields.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(scope: string, fields?: Fields): Logger;
}

export interface LogSink {
  write(line: string): void;
}

let globalLevel: Level = (process.env.AMBIT_LOG_LEVEL as Level | undefined) ?? 'info';
export function setLogLevel(level: Level): void {
  globalLevel = level;
}

export function formatValue(v: unknown): string {
  if (v instanceof Error) v = v.message;
  if (v === undefined) return '""';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return /^[A-Za-z0-9_./:@+\-[\],]+$/.test(s) ? s : JSON.stringify(s);
}

export function formatLine(level: Level, scope: string, msg: string, fields: Fields, now = new Date()): string {
  let line = `time=${now.toISOString()} level=${level} scope=${scope} msg=${JSON.stringify(msg)}`;
  for (const [k, v] of Object.entries(fields)) line += ` ${k}=${formatValue(v)}`;
  return line;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line + '\n') };

export function createLogger(scope: string, base: Fields = {}, sink: LogSink = stderrSink): Logger {
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (order[level] < order[globalLevel]) return;
    sink.write(formatLine(level, scope, msg, { ...base, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (s, f) => createLogger(`${scope}.${s}`, { ...base, ...f }, sink),
  };
}

/** A logger that drops everything (tests, CLI). */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => nullLogger,
};
