// Output helpers matching istioctl: Go's text/tabwriter (minwidth 0, tabwidth 8, padding 5, pad ' ') and Go
// durations for --waypoint-timeout.

/** Lays out tab-separated rows like tabwriter.NewWriter(w, 0, 8, 5, ' ', 0): every cell but a line's last is padded. */
export function tabwrite(rows: string[][], padding = 5): string {
  const widths: number[] = [];
  for (const r of rows) r.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] + padding) : c)).join('') + '\n').join('');
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration ("90s", "1m30s", "500ms", "2h"); a bare number means seconds. Returns milliseconds. */
export function parseDuration(s: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(t))) {
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== t.length || t.length === 0) throw new Error(`time: invalid duration "${s}"`);
  return total;
}
