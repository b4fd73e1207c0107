// A waypoint drains inside its pod's grace period (rendered as TERMINATION_GRACE_PERIOD_SECONDS), never past it.
import test from 'ava';
import { waypointDrainMs } from '../src/drain-deadline.js';

test("the rendered 2 s grace period gives a 1.5 s drain: the process exits before the kubelet's SIGKILL", (t) => {
  t.is(waypointDrainMs(undefined, { TERMINATION_GRACE_PERIOD_SECONDS: '2' }), 1500);
});

test('--drain-seconds wins; neither gives 5 s', (t) => {
  t.is(waypointDrainMs('0.2', { TERMINATION_GRACE_PERIOD_SECONDS: '2' }), 200);
  t.is(waypointDrainMs(undefined, {}), 5000);
});

test('malformed values are refused with the name of the setting', (t) => {
  t.throws(() => waypointDrainMs('soon', {}), { message: /--drain-seconds must be a number of seconds >= 0, got "soon"/ });
  t.throws(() => waypointDrainMs(undefined, { TERMINATION_GRACE_PERIOD_SECONDS: '-1' }), { message: /TERMINATION_GRACE_PERIOD_SECONDS must be a whole number/ });
});
