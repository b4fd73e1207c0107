// The controller's two Go-duration callers, on mesh-api's parser: what each accepted before still parses the same.
import test from 'ava';
import { parseDurationSeconds } from '../src/config.js';
import { parseDuration } from '../src/cli/format.js';

// The CLI's everyday cases are in cli.test.ts; these are the edges.
test('CLI durations (--waypoint-timeout, --readiness-timeout): surrounding blanks ignored, Go errors', (t) => {
  t.is(parseDuration(' 2h '), 7_200_000);
  t.is(parseDuration('1.5'), 1500);
  t.is(parseDuration('10us'), 0.01);
  t.is(parseDuration('0'), 0);
  // looser than the old grammar, as Go is: a number without its integer part
  t.is(parseDuration('.5s'), 500);
  t.throws(() => parseDuration(''), { message: 'time: invalid duration ""' });
  t.throws(() => parseDuration('1x'), { message: 'time: unknown unit "x" in duration "1x"' });
  t.throws(() => parseDuration('-1s'), { message: 'time: invalid duration "-1s"' });
});

test("the CA's TTL variables: Go durations or plain seconds, in seconds; undefined when absent or junk", (t) => {
  t.is(parseDurationSeconds('24h'), 86_400);
  t.is(parseDurationSeconds('90m'), 5400);
  t.is(parseDurationSeconds('3600s'), 3600);
  t.is(parseDurationSeconds('3600'), 3600);
  t.is(parseDurationSeconds('1h30m'), 5400);
  t.is(parseDurationSeconds('1.5s'), 1.5);
  t.is(parseDurationSeconds(undefined), undefined);
  t.is(parseDurationSeconds(''), undefined);
  t.is(parseDurationSeconds('24 h'), undefined);
  t.is(parseDurationSeconds('1d'), undefined);
  t.is(parseDurationSeconds('24h!'), undefined);
  // looser than the old grammar (h, m and s only, integers alone): the other Go units and decimal seconds
  t.is(parseDurationSeconds('1500ms'), 1.5);
  t.is(parseDurationSeconds('2.5'), 2.5);
});
