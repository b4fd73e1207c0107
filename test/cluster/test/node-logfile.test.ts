import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { LogWriter, openLog, parseLogLine, renderLog } from '../src/node/logfile.js';

const base = { follow: false, previous: false, timestamps: false };

test('CRI lines are parsed', (t) => {
  t.deepEqual(parseLogLine('2026-01-01T00:00:00.000Z stderr P half'), { time: '2026-01-01T00:00:00.000Z', stream: 'stderr', partial: true, text: 'half' });
  t.is(parseLogLine('garbage'), undefined);
});

test('render: tail, timestamps, since, partial lines joined', (t) => {
  const log = [
    '2026-01-01T00:00:00.000Z stdout F one',
    '2026-01-01T00:00:01.000Z stdout P tw',
    '2026-01-01T00:00:01.500Z stdout F o',
    '2026-01-01T00:00:02.000Z stderr F three',
    '',
  ].join('\n');
  t.is(renderLog(log, base), 'one\ntwo\nthree\n');
  t.is(renderLog(log, { ...base, tailLines: 2 }), 'two\nthree\n');
  t.is(renderLog(log, { ...base, tailLines: 0 }), '');
  t.is(renderLog(log, { ...base, timestamps: true, tailLines: 1 }), '2026-01-01T00:00:02.000Z three\n');
  t.is(renderLog(log, { ...base, sinceSeconds: 1 }, Date.parse('2026-01-01T00:00:02.600Z')), 'three\n');
});

test('writer and reader round-trip, limitBytes and follow until the run ends', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-log-'));
  const path = join(dir, '0.log');
  const w = new LogWriter(path);
  w.write('stdout', 'hello\nwor');
  w.write('stdout', 'ld\n');
  w.write('stderr', 'oops\n');
  await w.close();
  t.regex(await readFile(path, 'utf8'), /stdout F hello\n.*stdout F world\n.*stderr F oops\n$/);
  t.is(await text(await openLog(path, base, () => true)), 'hello\nworld\noops\n');
  t.is(await text(await openLog(path, { ...base, limitBytes: 8 }, () => true)), 'hello\nwo');

  const path2 = join(dir, '1.log');
  const w2 = new LogWriter(path2);
  w2.write('stdout', 'first\n');
  await new Promise((r) => setTimeout(r, 50));
  let ended = false;
  const stream = await openLog(path2, { ...base, follow: true }, () => ended);
  const all = text(stream);
  w2.write('stdout', 'second\n');
  await w2.close();
  await new Promise((r) => setTimeout(r, 300));
  ended = true;
  t.is(await all, 'first\nsecond\n');
});

test('follow: lines written just before the run ends reach the follower even if the log file is removed at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-log-'));
  const path = join(dir, '0.log');
  const w = new LogWriter(path);
  w.write('stdout', 'started\n');
  await new Promise((r) => setTimeout(r, 20));
  let ended = false;
  const all = text(await openLog(path, { ...base, follow: true }, () => ended));
  // As when a pod is deleted: the last lines, the run ends, the pod directory goes, all before the next poll.
  w.write('stdout', 'draining\nstopped\n');
  await w.close();
  ended = true;
  await rm(dir, { recursive: true });
  t.is(await all, 'started\ndraining\nstopped\n');
});
