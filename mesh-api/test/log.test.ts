// The logging core: Istio's line shape, the one quoting rule, scoped children, levels, the sink and the env rule.
import test from 'ava';
import { formatLine, levelFromEnv, logger, memoryLogger, setLogLevel, setLogSink } from '../src/log/index.js';

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test("a line is Istio's: time, level, scope, message, then the fields", (t) => {
  const line = formatLine('info', 'ambit::gateway', 'applied', { gateway: 'default/waypoint', kind: 'Deployment', msg2: 'two words' }, new Date('2024-01-01T00:00:00Z'));
  t.is(line, '2024-01-01T00:00:00.000Z\tinfo\tambit::gateway\tapplied\tgateway="default/waypoint" kind="Deployment" msg2="two words"');
  t.is(formatLine('warn', 'xds', 'no fields', {}, new Date(0)), '1970-01-01T00:00:00.000Z\twarn\txds\tno fields');
});

test('one quoting rule: strings, errors and objects quoted; numbers, booleans and null bare; undefined left out', (t) => {
  const log = memoryLogger('q');
  log.info('m', { s: 'a "b"\tc\nd', n: 3, b: false, z: null, u: undefined, e: new Error('boom'), o: { a: 1 } });
  const [, level, scope, msg, fields] = log.lines[0]!.split('\t');
  t.is(`${level} ${scope} ${msg}`, 'info q m');
  t.is(fields, 's="a \\"b\\"\\tc\\nd" n=3 b=false z=null e="boom" o="{\\"a\\":1}"');
  t.is(log.lines[0]!.split('\n').length, 1, 'a value never breaks the line');
});

test('pre-formatted fields (the ztunnel access log) go through as they are', (t) => {
  const log = memoryLogger('access');
  log.info('connection complete', 'src.addr=10.0.0.1:4000 direction="outbound"');
  t.regex(log.lines[0]!, /^\S+\tinfo\taccess\tconnection complete\tsrc\.addr=10\.0\.0\.1:4000 direction="outbound"$/);
  t.true(TS.test(log.lines[0]!.split('\t')[0]!));
});

test('child loggers join scopes with :: and carry their fields', (t) => {
  const root = memoryLogger('ambit');
  const child = root.child('informer', { resource: 'pods' }).child('watch');
  child.warn('restarting', { attempt: 2 });
  t.is(root.lines.length, 1);
  t.is(root.lines[0]!.split('\t').slice(1).join('\t'), 'warn\tambit::informer::watch\trestarting\tresource="pods" attempt=2');
});

test("levels: a logger's own threshold, else the process's; off writes nothing", (t) => {
  const own = memoryLogger('own', 'warn');
  own.info('dropped');
  own.error('kept');
  t.deepEqual(own.lines.map((l) => l.split('\t')[3]), ['kept']);
  t.is(memoryLogger('off', 'off').lines.length, 0);

  const lines: string[] = [];
  const log = logger('proc', { sink: (l) => void lines.push(l) });
  t.teardown(() => setLogLevel('info'));
  setLogLevel('error');
  log.warn('dropped at error');
  setLogLevel('debug');
  log.debug('kept at debug');
  setLogLevel('off');
  log.error('dropped at off');
  t.deepEqual(lines.map((l) => l.split('\t')[3]), ['kept at debug']);
});

test('setLogSink catches loggers made before it, and hands back the previous sink', (t) => {
  const early = logger('early');
  const lines: string[] = [];
  const prev = setLogSink((l) => void lines.push(l));
  t.teardown(() => void setLogSink(prev));
  early.info('caught');
  t.is(lines.length, 1);
  t.is(lines[0]!.split('\t').slice(1).join('\t'), 'info\tearly\tcaught');
});

test('the env rule: AMBIT_LOG_LEVEL, then the names a runtime adds; a bad value is named, with what to set', (t) => {
  t.deepEqual(levelFromEnv({}), { level: 'info' });
  t.deepEqual(levelFromEnv({ AMBIT_LOG_LEVEL: 'debug', LOG_LEVEL: 'error' }, ['AMBIT_LOG_LEVEL', 'LOG_LEVEL']), { level: 'debug' });
  t.deepEqual(levelFromEnv({ LOG_LEVEL: 'WARN' }, ['AMBIT_LOG_LEVEL', 'ZTUNNEL_LOG_LEVEL', 'LOG_LEVEL']), { level: 'warn' });
  t.deepEqual(levelFromEnv({ LOG_LEVEL: 'warn' }), { level: 'info' }, 'only AMBIT_LOG_LEVEL unless a runtime names more');
  const bad = levelFromEnv({ AMBIT_LOG_LEVEL: 'loud' });
  t.is(bad.level, 'info');
  t.is(bad.problem, 'AMBIT_LOG_LEVEL="loud" is not a log level; set it to one of error, warn, info, debug, off (using info)');
});

test('a logger made with base fields keeps them when a call passes its fields as a pre-formatted string', (t) => {
  const lines: string[] = [];
  const log = logger('proc', { fields: { node: 'n1' }, sink: (l) => void lines.push(l) });
  log.info('as string', 'conn=7 dir="in"');
  log.info('as object', { conn: 8 });
  log.info('none');
  t.deepEqual(lines.map((l) => l.split('\t').slice(3).join('\t')), ['as string\tnode="n1" conn=7 dir="in"', 'as object\tnode="n1" conn=8', 'none\tnode="n1"']);
});
