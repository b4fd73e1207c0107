import test from 'ava';
import { setImmediate as turn } from 'node:timers/promises';
import { bufferedStdout } from '../src/access-log.js';

test('access-log sink: the lines of one event-loop turn reach the output in one write, each ended by a newline', async (t) => {
  const writes: string[] = [];
  const sink = bufferedStdout({ write: (chunk) => writes.push(chunk) });
  sink.write('[2026-01-01T00:00:00.000Z] "GET / HTTP/1.1" 200');
  sink.write('[2026-01-01T00:00:00.001Z] "GET /a HTTP/1.1" 404');
  t.deepEqual(writes, [], 'nothing is written before the turn ends');
  await turn();
  t.deepEqual(writes, ['[2026-01-01T00:00:00.000Z] "GET / HTTP/1.1" 200\n[2026-01-01T00:00:00.001Z] "GET /a HTTP/1.1" 404\n']);
  sink.write('next');
  await turn();
  t.deepEqual(writes.slice(1), ['next\n'], 'a later turn gets its own write');
});
