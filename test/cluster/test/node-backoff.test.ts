import test from 'ava';
import { Backoff, formatDuration } from '../src/node/backoff.js';

test('first restart is immediate, then 10s doubling up to 5m', (t) => {
  const b = new Backoff();
  let now = 1_000_000;
  b.started(now);
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    now += 1000;
    waits.push(b.next(now));
    b.started(now);
  }
  t.deepEqual(waits, [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
});

test('a container that ran 10 minutes starts over', (t) => {
  const b = new Backoff();
  b.started(0);
  b.next(1000);
  b.next(2000);
  b.started(3000);
  t.is(b.next(3000 + 600_000), 0);
});

test('durations are spelled like Go', (t) => {
  t.is(formatDuration(10_000), '10s');
  t.is(formatDuration(80_000), '1m20s');
  t.is(formatDuration(300_000), '5m0s');
});
