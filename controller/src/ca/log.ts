/** The structured logger the CA, push and mesh components write to (main.ts may pass its own). */
export interface ComponentLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error?(msg: string, fields?: Record<string, unknown>): void;
  debug?(msg: string, fields?: Record<string, unknown>): void;
}

/** JSON lines on stderr: `{"time","level","scope","msg",...fields}`. */
export function jsonLogger(scope: string): ComponentLogger {
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...fields }) + '\n');
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

export const silentLogger: ComponentLogger = { info() {}, warn() {} };
