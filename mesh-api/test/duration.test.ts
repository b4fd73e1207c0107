import test from 'ava';
import { DurationError, parseGoDuration, tryParseGoDuration } from '../src/index.js';

test('Go durations, in milliseconds', (t) => {
  t.is(parseGoDuration('0'), 0);
  t.is(parseGoDuration('0s'), 0);
  t.is(parseGoDuration('300ms'), 300);
  t.is(parseGoDuration('1.5s'), 1500);
  t.is(parseGoDuration('1h2m3.5s'), 3_723_500);
  t.is(parseGoDuration('2h'), 7_200_000);
  t.is(parseGoDuration('90m'), 5_400_000);
  t.is(parseGoDuration('10us'), 0.01);
  t.is(parseGoDuration('10µs'), 0.01); // U+00B5
  t.is(parseGoDuration('10μs'), 0.01); // U+03BC
  t.is(parseGoDuration('1500000ns'), 1.5);
  t.is(parseGoDuration('1m30s'), 90_000);
  t.is(parseGoDuration('.5s'), 500); // Go accepts a number without its integer part
  t.is(parseGoDuration('1.s'), 1000); // and without its fraction
  t.is(parseGoDuration('1s1s'), 2000); // and repeated units
});

test('junk is refused with Go’s error text, which names the value', (t) => {
  const cases: [string, string][] = [
    ['', 'time: invalid duration ""'],
    ['abc', 'time: invalid duration "abc"'],
    ['1x', 'time: unknown unit "x" in duration "1x"'],
    ['10', 'time: missing unit in duration "10"'],
    ['1h 2m', 'time: unknown unit "h " in duration "1h 2m"'],
    [' 1s', 'time: invalid duration " 1s"'],
    ['1s junk', 'time: unknown unit "s junk" in duration "1s junk"'],
    ['-1s', 'time: invalid duration "-1s"'], // no caller ever took a sign: a negative timeout is an error
    ['+1s', 'time: invalid duration "+1s"'],
    ['.s', 'time: invalid duration ".s"'],
    ['1.5.s', 'time: missing unit in duration "1.5.s"'],
    ['s', 'time: invalid duration "s"'],
  ];
  for (const [value, message] of cases) {
    const err = t.throws(() => parseGoDuration(value), { instanceOf: DurationError }, value);
    t.is(err?.message, message);
    t.is(err?.value, value);
  }
});

test("bareNumber: 's' reads a number without a unit as seconds, as the CLI and the CA's TTL variables do", (t) => {
  t.is(parseGoDuration('5', { bareNumber: 's' }), 5000);
  t.is(parseGoDuration('1.5', { bareNumber: 's' }), 1500);
  t.is(parseGoDuration('90s', { bareNumber: 's' }), 90_000);
  t.throws(() => parseGoDuration('5', {}), { message: 'time: missing unit in duration "5"' });
  t.throws(() => parseGoDuration('5 s', { bareNumber: 's' }), { instanceOf: DurationError });
});

test('tryParseGoDuration: undefined for undefined, empty and junk', (t) => {
  t.is(tryParseGoDuration(undefined), undefined);
  t.is(tryParseGoDuration(''), undefined);
  t.is(tryParseGoDuration('1x'), undefined);
  t.is(tryParseGoDuration('250ms'), 250);
});
