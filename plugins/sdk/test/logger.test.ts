// The SDK's Logger is the logging core's face: the same line, quoting, scopes and threshold as every Ambit process.
import test from 'ava';
import { setLogLevel } from '@ambit/mesh-api/log';
import { createLogger, formatFields, memoryLogger } from '../src/index.js';

test("memoryLogger: Istio's line, the plugin's scope after the waypoint's", (t) => {
  const log = memoryLogger();
  log.child('my-plugin').info('hello', { path: '/p', n: 1, skipped: undefined });
  t.is(log.lines[0]!.split('\t').slice(1).join('\t'), 'info\twaypoint::my-plugin\thello\tpath="/p" n=1');
  t.is(formatFields({ a: 'x y', b: true }), 'a="x y" b=true');
});

test("createLogger: its own write and level, else the process's threshold", (t) => {
  const mine: string[] = [];
  const own = createLogger({ level: 'warn', scope: 'w', write: (l) => void mine.push(l) });
  own.info('dropped');
  own.warn('kept');
  t.deepEqual(mine.map((l) => l.split('\t').slice(1, 4).join(' ')), ['warn w kept']);

  const proc: string[] = [];
  t.teardown(() => setLogLevel('info'));
  setLogLevel('error');
  const log = createLogger({ write: (l) => void proc.push(l) });
  for (const level of ['debug', 'info', 'warn', 'error'] as const) log[level](level);
  t.deepEqual(proc.map((l) => l.split('\t')[3]), ['error'], 'no level of its own: the process threshold');
});
