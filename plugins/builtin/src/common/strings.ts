// Istio's string forms in AuthorizationPolicy: `*` (present, non-empty), `prefix*`, `*suffix`, exact.
import { tryParseGoDuration } from '@ambit/mesh-api/plumbing';

export type StringPredicate = (value: string | undefined) => boolean;

export function istioStringMatch(pattern: string, ignoreCase = false): StringPredicate {
  const norm = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const p = norm(pattern);
  if (p === '*') return (v) => v !== undefined && v !== '';
  if (p.endsWith('*')) {
    const pre = p.slice(0, -1);
    return (v) => v !== undefined && norm(v).startsWith(pre);
  }
  if (p.startsWith('*')) {
    const suf = p.slice(1);
    return (v) => v !== undefined && norm(v).endsWith(suf);
  }
  return (v) => v !== undefined && norm(v) === p;
}

/** (any of `positive`, when given) AND NOT (any of `negative`). Undefined when both are empty. */
export function anyNone<T>(positive: T[] | undefined, negative: T[] | undefined, make: (p: T) => StringPredicate): StringPredicate | undefined {
  const pos = (positive ?? []).map(make);
  const neg = (negative ?? []).map(make);
  if (pos.length === 0 && neg.length === 0) return undefined;
  return (v) => (pos.length === 0 || pos.some((f) => f(v))) && !neg.some((f) => f(v));
}

/**
 * A Gateway API / Istio duration (`1h2m3s`, `250ms`, `1.5s`) in milliseconds, by mesh-api's Go-duration parser;
 * undefined when absent or not a duration (the caller's default applies). A number without a unit is not one.
 */
export function parseDuration(d: string | undefined): number | undefined {
  if (d === undefined || d === null) return undefined;
  return tryParseGoDuration(String(d));
}
