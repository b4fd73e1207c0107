// Which TLS passthrough route takes a server name: the one with the most specific matching hostname (an exact name,
// then the longest `*.suffix`, then a route without hostnames), as Envoy picks among filter chains' server_names.
import { hostMatches } from './virtualservice.js';

/** How specifically `pattern` matches `sni` (higher wins), or -1 when it does not. */
export function sniSpecificity(pattern: string, sni: string): number {
  if (!hostMatches(pattern, sni)) return -1;
  if (pattern === '*') return 0;
  return pattern.startsWith('*.') ? pattern.length : Number.MAX_SAFE_INTEGER;
}

/** The route among `routes` (in precedence order for ties) whose hostnames match `sni` most specifically; none: any name, least specific. */
export function mostSpecificSni<T extends { hosts: string[] }>(routes: T[], sni: string): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const r of routes) {
    const score = r.hosts.length === 0 ? 0 : Math.max(...r.hosts.map((h) => sniSpecificity(h, sni)));
    if (score > bestScore) [best, bestScore] = [r, score];
  }
  return best;
}
