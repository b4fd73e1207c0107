// The logging core every Ambit process writes through (`@ambit/mesh-api/log`, dependency-free): Istio's line format,
// one quoting rule, one sink and level per process, scoped children, a memory logger for tests. Never log keys or tokens.
export { formatFields, formatLine, quote, LOG_LEVELS, type Level, type LogLevel, type Fields } from './format.js';
export { levelFromEnv, isLogLevel, LOG_LEVEL_ENV, type LevelChoice } from './level.js';
export {
  logger,
  nullLogger,
  memoryLogger,
  setLogSink,
  setLogLevel,
  levelEnabled,
  type Logger,
  type LevelLogger,
  type PartialLogger,
  type LogSink,
  type LoggerOptions,
} from './logger.js';
