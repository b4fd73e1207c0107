// The drain deadline a ztunnel gets from its pod: the grace period less 5 s, as Istio's ztunnel, unless set.
import test from 'ava';
import { parseZtunnelConfig } from '../src/index.js';

const deadline = (env: NodeJS.ProcessEnv, file = '') => parseZtunnelConfig(file, env).drainDeadlineMs;

test('the DaemonSet grace period (30 s) gives a 25 s drain, so a long connection outlives a restart that long', (t) => {
  t.is(deadline({ TERMINATION_GRACE_PERIOD_SECONDS: '30' }), 25_000);
});

test('a grace period under 5 s drains not at all rather than past the SIGKILL', (t) => {
  t.is(deadline({ TERMINATION_GRACE_PERIOD_SECONDS: '3' }), 0);
});

test('DRAIN_DEADLINE_MS (or the file) wins over the grace period; neither gives 5 s', (t) => {
  t.is(deadline({ TERMINATION_GRACE_PERIOD_SECONDS: '30', DRAIN_DEADLINE_MS: '1000' }), 1000);
  t.is(deadline({}, JSON.stringify({ drainDeadlineMs: 2000 })), 2000);
  t.is(deadline({}), 5000);
});

test('a malformed value is refused with the variable named', (t) => {
  t.throws(() => deadline({ TERMINATION_GRACE_PERIOD_SECONDS: '30s' }), { message: /TERMINATION_GRACE_PERIOD_SECONDS must be a whole number of seconds .*"30s"/ });
  t.throws(() => deadline({ DRAIN_DEADLINE_MS: 'soon' }), { message: /DRAIN_DEADLINE_MS must be a number of milliseconds >= 0, got "soon"/ });
});
