// Logging in ztunnel's text form: `<RFC3339 ts>\t<level>\t<target>\t<message>[\t<k=v …>]`.
// Never pass keys or tokens. Level from ZTUNNEL_LOG_LEVEL / LOG_LEVEL (error|warn|info|debug), default info.

export type Level = 'error' | 'warn' | 'info' | 'debug';
const order: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export type LogSink = (line: string) => void;

let sink: LogSink = (line) => process.stderr.write(line + '\n');
let threshold: number = order[(process.env.ZTUNNEL_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info') as Level] ?? 2;

/** Replaces where log lines go (tests capture them). Returns the previous sink. */
export function setLogSink(s: LogSink): LogSink {
  const prev = sink;
  sink = s;
  return prev;
}

export function setLogLevel(level: Level): void {
  threshold = order[level];
}

export function levelEnabled(level: Level): boolean {
  return order[level] <= threshold;
}

export interface Logger {
  error(msg: string, fields?: string): void;
  warn(msg: string, fields?: string): void;
  info(msg: string, fields?: string): void;
  debug(msg: string, fields?: string): void;
}

export function logger(target: string): Logger {
  const emit = (level: Level) => (msg: string, fields?: string) => {
    if (order[level] > threshold) return;
    sink(`${new Date().toISOString()}\t${level}\t${target}\t${msg}${fields ? '\t' + fields : ''}`);
  };
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug') };
}
