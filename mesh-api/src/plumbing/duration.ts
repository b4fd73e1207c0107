// Go durations as Kubernetes and Istio write them (time.ParseDuration's grammar): a sequence of decimal numbers,
// each with an optional fraction and a unit, `1h2m3.5s`, `300ms`, `10us`, and `0`. The one parser of the
// repository; it refuses anything else with Go's own error text, which names the value.

/** Milliseconds per unit. `µs` is U+00B5 (micro sign), `μs` U+03BC (Greek mu): Go accepts both. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export interface DurationOptions {
  /**
   * What a number without a unit means. Go accepts only `0`; the `ambit` CLI and the CA's TTL variables have
   * always read `90` as 90 seconds, so they pass 's'.
   */
  bareNumber?: 's';
}

export class DurationError extends Error {
  constructor(message: string, readonly value: string) {
    super(message);
    this.name = 'DurationError';
  }
}

const NUMBER = /^(\d*)(\.\d*)?/;
const UNIT = /^[^\d.]+/;

/**
 * Parses a Go duration into milliseconds (fractions kept: `10us` is 0.01). Throws a DurationError naming the value
 * for anything else: empty, a sign, a missing or unknown unit, stray characters.
 */
export function parseGoDuration(value: string, opts: DurationOptions = {}): number {
  const quoted = JSON.stringify(value);
  if (value === '0') return 0;
  if (opts.bareNumber === 's' && /^(\d+(\.\d*)?|\.\d+)$/.test(value)) return Number(value) * 1000;
  if (value === '') throw new DurationError(`time: invalid duration ${quoted}`, value);
  let rest = value;
  let total = 0;
  while (rest !== '') {
    const num = NUMBER.exec(rest)!;
    const [whole, int, frac = ''] = num;
    if (int === '' && frac.length < 2) throw new DurationError(`time: invalid duration ${quoted}`, value);
    rest = rest.slice(whole.length);
    const unit = UNIT.exec(rest)?.[0];
    if (unit === undefined) throw new DurationError(`time: missing unit in duration ${quoted}`, value);
    const ms = UNIT_MS[unit];
    if (ms === undefined) throw new DurationError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`, value);
    rest = rest.slice(unit.length);
    total += Number(`${int || '0'}${frac === '.' ? '' : frac}`) * ms;
  }
  return total;
}

/** Like parseGoDuration, but undefined instead of an error, and for undefined or ''. */
export function tryParseGoDuration(value: string | undefined, opts: DurationOptions = {}): number | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return parseGoDuration(value, opts);
  } catch (e) {
    if (e instanceof DurationError) return undefined;
    throw e;
  }
}
