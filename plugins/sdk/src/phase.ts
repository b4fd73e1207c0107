// Plugin phases, as Istio's WasmPlugin `PluginPhase`. The chain runs AUTHN, then AUTHZ, then STATS, then
// UNSPECIFIED_PHASE ("at the end of the filter chain, right before the router"); within a phase, higher
// `priority` first. Ties keep registration order.

export type Phase = 'AUTHN' | 'AUTHZ' | 'STATS' | 'UNSPECIFIED_PHASE';

export const PHASES: readonly Phase[] = ['AUTHN', 'AUTHZ', 'STATS', 'UNSPECIFIED_PHASE'];

const rank: Record<Phase, number> = { AUTHN: 0, AUTHZ: 1, STATS: 2, UNSPECIFIED_PHASE: 3 };

export function phaseRank(phase: Phase | undefined): number {
  return rank[phase ?? 'UNSPECIFIED_PHASE'] ?? rank.UNSPECIFIED_PHASE;
}

export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && value in rank;
}

/** Sort key order: phase, then priority descending, then declaration order (stable). */
export function comparePhasePriority(
  a: { phase?: Phase; priority?: number },
  b: { phase?: Phase; priority?: number },
): number {
  const d = phaseRank(a.phase) - phaseRank(b.phase);
  if (d !== 0) return d;
  return (b.priority ?? 0) - (a.priority ?? 0);
}
