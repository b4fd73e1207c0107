// Route timeouts, retry and fault delays, filter budgets: Gateway API / Istio durations by mesh-api's parser.
import test from 'ava';
import { parseDuration } from '../src/common/strings.js';

test('durations as routes and filters give them', (t) => {
  t.is(parseDuration('1h2m3s'), 3_723_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('1.5s'), 1500);
  t.is(parseDuration('0s'), 0);
  t.is(parseDuration(undefined), undefined);
  t.is(parseDuration(''), undefined);
  t.is(parseDuration('5'), undefined); // a number without a unit is no duration here
  t.is(parseDuration('abc'), undefined);
});

test('stricter than the old grammar: stray text makes the value no duration instead of being skipped', (t) => {
  // The old parser summed every `<number><h|m|s|ms>` it found anywhere in the string and ignored the rest.
  t.is(parseDuration('1s junk'), undefined);
  t.is(parseDuration('junk 1s'), undefined);
  t.is(parseDuration('1h 2m'), undefined);
  t.is(parseDuration('-1s'), undefined);
});

test('looser than the old grammar: the rest of Go’s grammar', (t) => {
  t.is(parseDuration('0'), 0); // was undefined
  t.is(parseDuration('10us'), 0.01); // was undefined
  t.is(parseDuration('.5s'), 500); // was 5000: the old parser skipped the dot
});
