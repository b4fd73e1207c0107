// The one environment rule for how much a process logs: AMBIT_LOG_LEVEL (error|warn|info|debug|off, default info);
// a runtime may name older variables after it (ztunnel: ZTUNNEL_LOG_LEVEL, then LOG_LEVEL, as Istio's ztunnel reads).
import { LOG_LEVELS, type LogLevel } from './format.js';

export const LOG_LEVEL_ENV = 'AMBIT_LOG_LEVEL';

export function isLogLevel(v: string): v is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(v);
}

export interface LevelChoice {
  level: LogLevel;
  /** Set when a variable held something that is not a level: what to tell the user (the default is used). */
  problem?: string;
}

/** The level the first set variable of `names` asks for; `info` when none is set or the first set one is bad. */
export function levelFromEnv(env: Record<string, string | undefined> = process.env, names: readonly string[] = [LOG_LEVEL_ENV]): LevelChoice {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const v = raw.trim().toLowerCase();
    if (isLogLevel(v)) return { level: v };
    return { level: 'info', problem: `${name}=${JSON.stringify(raw)} is not a log level; set it to one of ${LOG_LEVELS.join(', ')} (using info)` };
  }
  return { level: 'info' };
}
