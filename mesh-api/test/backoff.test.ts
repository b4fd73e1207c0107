import test from 'ava';
import { Backoff, backoffDelay } from '../src/index.js';

test('without jitter the delay doubles from initialMs up to maxMs, and reset starts again', (t) => {
  const b = new Backoff({ initialMs: 500, maxMs: 15_000 });
  t.deepEqual(Array.from({ length: 8 }, () => b.next()), [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
  t.is(b.attempts, 8);
  b.reset();
  t.is(b.attempts, 0);
  t.is(b.peek(), 500);
  t.is(b.attempts, 0);
  t.is(b.next(), 500);
});

test('jitter draws uniformly from [d * (1 - jitter), d]', (t) => {
  const lo = new Backoff({ initialMs: 200, maxMs: 30_000, jitter: 0.5, random: () => 0 });
  const hi = new Backoff({ initialMs: 200, maxMs: 30_000, jitter: 0.5, random: () => 0.999_999 });
  t.deepEqual([lo.next(), lo.next(), lo.next()], [100, 200, 400]);
  t.deepEqual([hi.next(), hi.next(), hi.next()], [200, 400, 800]);
  const full = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 1, random: () => 0.25 });
  t.is(full.next(), 250);
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(i % 12, { initialMs: 200, maxMs: 30_000, jitter: 0.5 });
    const cap = Math.min(30_000, 200 * 2 ** (i % 12));
    t.true(d >= cap / 2 && d <= cap, `${d} in [${cap / 2}, ${cap}]`);
  }
});

test('the cap holds for any number of attempts, and attempts below 0 count as the first', (t) => {
  t.is(backoffDelay(10_000, { initialMs: 100, maxMs: 60_000 }), 60_000);
  t.is(backoffDelay(Number.MAX_SAFE_INTEGER, { initialMs: 1, maxMs: 5 }), 5);
  t.is(backoffDelay(-3, { initialMs: 100, maxMs: 60_000 }), 100);
  t.is(backoffDelay(0, { initialMs: 0, maxMs: 10 }), 0);
});

test('negative or NaN delays are refused; an initialMs above maxMs is capped from the start', (t) => {
  t.throws(() => new Backoff({ initialMs: -1, maxMs: 5 }), { instanceOf: RangeError });
  t.throws(() => new Backoff({ initialMs: 10, maxMs: Number.NaN }), { instanceOf: RangeError });
  t.is(new Backoff({ initialMs: 10, maxMs: 5 }).next(), 5);
});
