// Istio's string forms in AuthorizationPolicy: `*` (present, non-empty), `prefix*`, `*suffix`, exact.

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

/** Parse a Gateway API / protobuf duration (`1h2m3s`, `250ms`, `1.5s`) into milliseconds. */
export function parseDuration(d: string | undefined): number | undefined {
  if (d === undefined || d === null || d === '') return undefined;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;
  let total = 0;
  let matched = false;
  for (const m of String(d).matchAll(re)) {
    matched = true;
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return matched ? total : undefined;
}
