/** Pick one of `items` by integer weights (weight 0 never chosen). Undefined when all weights are 0. */
export function pickWeighted<T>(items: T[], weight: (t: T) => number, random: () => number = Math.random): T | undefined {
  if (items.length === 1) return weight(items[0]!) > 0 ? items[0] : undefined;
  let total = 0;
  for (const it of items) total += Math.max(0, weight(it));
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const it of items) {
    const w = Math.max(0, weight(it));
    if (r < w) return it;
    r -= w;
  }
  return items[items.length - 1];
}
