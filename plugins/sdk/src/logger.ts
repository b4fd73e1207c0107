// The logger plugins get (token LOGGER): the face of Ambit's logging core (`@ambit/mesh-api/log`), whose line format,
// quoting, sink and level it uses. Structured: a message plus flat fields. Never log keys or tokens.
import { formatFields as coreFormatFields, logger as coreLogger, memoryLogger as coreMemoryLogger, type LogLevel as CoreLogLevel } from '@ambit/mesh-api/log';

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines carry `scope` (e.g. the plugin name). */
  child(scope: string): Logger;
}

export type LogLevel = CoreLogLevel;

/** The `k=v ...` part of a line: strings JSON-quoted (`k="v"`), numbers and booleans bare, undefined left out. */
export function formatFields(fields: LogFields | undefined): string {
  return coreFormatFields(fields);
}

const stdout = (line: string) => void process.stdout.write(line + '\n');

/**
 * Lines `<RFC3339>\t<level>\t<scope>\t<message>\t<k=v ...>` (Istio's shape) written to `write`, stdout unless told.
 * Without `level`, the process's (AMBIT_LOG_LEVEL).
 */
export function createLogger(opts: { level?: LogLevel; scope?: string; write?: (line: string) => void } = {}): Logger {
  return coreLogger(opts.scope ?? 'waypoint', { level: opts.level, sink: opts.write ?? stdout });
}

/** A logger that keeps lines in memory (the test kit's). */
export function memoryLogger(level: LogLevel = 'debug'): Logger & { lines: string[] } {
  return coreMemoryLogger('waypoint', level);
}
