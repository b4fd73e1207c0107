// The one line format of every Ambit process, Istio's (istiod and ztunnel both write it), and its one quoting rule.
//   `<RFC3339>\t<level>\t<scope>\t<message>[\t<k=v ...>]`
// Fields: strings (and Errors, by message; objects, as JSON) JSON-quoted, numbers, booleans and null bare,
// undefined left out; a pre-formatted string of fields (ztunnel's access log, whose addresses are bare) goes as is.

export type Level = 'error' | 'warn' | 'info' | 'debug';
/** A threshold: a level, or `off` for nothing at all. */
export type LogLevel = Level | 'off';
export type Fields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug', 'off'];

/** How much a threshold lets through: a line is written when `rank(level) <= rank(threshold)`. */
export function rank(level: LogLevel): number {
  switch (level) {
    case 'off':
      return -1;
    case 'error':
      return 0;
    case 'warn':
      return 1;
    case 'info':
      return 2;
    case 'debug':
      return 3;
  }
}

/** A string value as it stands in a line: JSON-quoted, so spaces, quotes and newlines never break the line. */
export function quote(s: string): string {
  return JSON.stringify(s);
}

function formatValue(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null) return String(v);
  if (v instanceof Error) return quote(v.message);
  try {
    return quote(JSON.stringify(v) ?? String(v));
  } catch {
    return quote(String(v));
  }
}

/** The `k=v ...` part of a line; '' when there is nothing to write. */
export function formatFields(fields: Fields | string | undefined): string {
  if (fields === undefined) return '';
  if (typeof fields === 'string') return fields;
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    const s = formatValue(v);
    if (s !== undefined) out += (out ? ' ' : '') + `${k}=${s}`;
  }
  return out;
}

export function formatLine(level: Level, scope: string, msg: string, fields?: Fields | string, now = new Date()): string {
  const f = formatFields(fields);
  return `${now.toISOString()}\t${level}\t${scope}\t${msg}${f ? '\t' + f : ''}`;
}
