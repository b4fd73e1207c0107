// The logger plugins get (token LOGGER). Structured: a message plus flat fields. Never log keys or tokens.

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines carry `scope` (e.g. the plugin name). */
  child(scope: string): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off';
const levels: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 9 };

/** Quote a value the way ztunnel's access log does (`k="v"` for strings with spaces, quotes or `=`). */
export function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
    out += (out ? ' ' : '') + `${k}=${s}`;
  }
  return out;
}

/**
 * Lines `<RFC3339>\t<level>\t<scope>\t<message>\t<k=v ...>` (the shape of ztunnel's logs) written to `write`.
 */
export function createLogger(opts: { level?: LogLevel; scope?: string; write?: (line: string) => void } = {}): Logger {
  const min = levels[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const make = (scope: string): Logger => {
    const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
      if (levels[level] < min) return;
      const f = formatFields(fields);
      write(`${new Date().toISOString()}\t${level}\t${scope}\t${msg}${f ? '\t' + f : ''}`);
    };
    return {
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: (s: string) => make(scope ? `${scope}::${s}` : s),
    };
  };
  return make(opts.scope ?? 'waypoint');
}

/** A logger that keeps lines in memory (the test kit's). */
export function memoryLogger(level: LogLevel = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ level, write: (l) => lines.push(l) }), { lines });
}
