/** The logger the xDS clients write to; the runtime passes its own. Messages never carry tokens or keys. */
export interface XdsLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  debug?(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: XdsLogger = { info() {}, warn() {} };
