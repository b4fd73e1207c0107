// Output helpers matching istioctl: Go's text/tabwriter (minwidth 0, tabwidth 8, padding 5, pad ' ') and Go
// durations for --waypoint-timeout.
import { parseGoDuration } from '@ambit/mesh-api';

/** Lays out tab-separated rows like tabwriter.NewWriter(w, 0, 8, 5, ' ', 0): every cell but a line's last is padded. */
export function tabwrite(rows: string[][], padding = 5): string {
  const widths: number[] = [];
  for (const r of rows) r.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] + padding) : c)).join('') + '\n').join('');
}

/** A Go duration ("90s", "1m30s", "500ms", "2h") in milliseconds; a bare number means seconds. Throws on junk. */
export function parseDuration(s: string): number {
  return parseGoDuration(s.trim(), { bareNumber: 's' });
}
