// How long a SIGTERM'd waypoint drains: --drain-seconds when given; else the pod's grace period
// (TERMINATION_GRACE_PERIOD_SECONDS, which the controller renders beside terminationGracePeriodSeconds) less
// 0.5 s for the exit itself, so the drain ends before the kubelet's SIGKILL; else 5 s.
export function waypointDrainMs(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  if (flag !== undefined) {
    const s = Number(flag);
    if (flag.trim() === '' || !Number.isFinite(s) || s < 0) throw new Error(`--drain-seconds must be a number of seconds >= 0, got ${JSON.stringify(flag)}`);
    return s * 1000;
  }
  const grace = env.TERMINATION_GRACE_PERIOD_SECONDS;
  if (grace !== undefined && grace !== '') {
    if (!/^\d+$/.test(grace.trim())) throw new Error(`TERMINATION_GRACE_PERIOD_SECONDS must be a whole number of seconds (the pod's terminationGracePeriodSeconds), got ${JSON.stringify(grace)}`);
    return Math.max(0, Number(grace) * 1000 - 500);
  }
  return 5000;
}
