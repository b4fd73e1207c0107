// The ConformanceReport arithmetic of `npm run conformance`: merging the per-profile reports the suite writes
// into one, folding a flake's rerun into its profile, and the per-profile counts the runner prints.

/** A profile's core and extended status, as the suite writes them (counts under `statistics`). */
const statuses = (profile) => [profile.core, profile.extended].filter(Boolean);

function result(status) {
  if (status.statistics.Failed > 0) return 'failure';
  if (status.statistics.Skipped > 0) return 'partial';
  return 'success';
}

function summary(profile) {
  const text = (s) =>
    s.result === 'success'
      ? 'succeeded'
      : s.result === 'partial'
        ? `partially succeeded with ${s.statistics.Skipped} test skips`
        : `failed with ${s.statistics.Failed} test failures`;
  return `Core tests ${text(profile.core)}${profile.extended ? `. Extended tests ${text(profile.extended)}` : ''}.`;
}

/**
 * One report from several (one per profile run): the header of the first, every profile, the union of the
 * provisional tests that succeeded.
 */
export function mergeReports(reports) {
  const [first] = reports;
  if (!first) throw new Error('no report to merge');
  const merged = { ...first, profiles: reports.flatMap((r) => r.profiles ?? []) };
  const provisional = [...new Set(reports.flatMap((r) => r.succeededProvisionalTests ?? []))].sort();
  if (provisional.length) merged.succeededProvisionalTests = provisional;
  else delete merged.succeededProvisionalTests;
  return merged;
}

/** The names a profile reports as failed, core and extended. */
export function failedTests(profile) {
  return statuses(profile).flatMap((s) => s.failedTests ?? []);
}

/**
 * A failed test passed when run again on its own: it counts as passed in the profile (whichever of core or
 * extended listed it), and the results and summary follow. Returns whether the profile listed it as failed.
 */
export function markPassed(profile, test) {
  for (const s of statuses(profile)) {
    const i = (s.failedTests ?? []).indexOf(test);
    if (i < 0) continue;
    s.failedTests.splice(i, 1);
    if (!s.failedTests.length) delete s.failedTests;
    s.statistics.Failed -= 1;
    s.statistics.Passed += 1;
    s.result = result(s);
    profile.summary = summary(profile);
    return true;
  }
  return false;
}

/** Passed, failed and skipped over core and extended, and whether a core test failed. */
export function counts(profile) {
  const sum = (k) => statuses(profile).reduce((n, s) => n + (s.statistics?.[k] ?? 0), 0);
  return { passed: sum('Passed'), failed: sum('Failed'), skipped: sum('Skipped'), coreFailed: (profile.core?.statistics?.Failed ?? 0) > 0 };
}
