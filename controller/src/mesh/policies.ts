// AuthorizationPolicy -> ztunnel Authorization (convertAuthorizationPolicy, in authorization.ts), and
// PeerAuthentication -> the static deny-plaintext policies istiod generates for ambient.

import type { Authorization } from '@ambit/mesh-api';
import type { KubeObject } from '../kube/resources.js';

export const STATIC_STRICT_NAME = 'istio_converted_static_strict';

/** Istio's `istio-system/istio_converted_static_strict`: deny any connection without a peer identity. */
export function staticStrictPolicy(rootNamespace: string): Authorization {
  return {
    name: STATIC_STRICT_NAME,
    namespace: rootNamespace,
    scope: 'WorkloadSelector',
    action: 'Deny',
    dryRun: false,
    rules: [[[{ notPrincipals: [{ Presence: [] }] }]]],
  };
}

type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> } | null;
  mtls?: { mode?: MtlsMode } | null;
  portLevelMtls?: Record<string, { mode?: MtlsMode }> | null;
}

export type PeerAuthentication = KubeObject & { spec?: PeerAuthenticationSpec };

const modeOf = (pa: PeerAuthentication | undefined): MtlsMode => pa?.spec?.mtls?.mode ?? 'UNSET';

const older = (a: KubeObject, b: KubeObject): number => {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1;
};

export interface PeerAuthenticationIndex {
  /** The policy keys a workload gets from PeerAuthentication (none when plaintext is allowed). */
  policiesFor(namespace: string, labels: Record<string, string>): string[];
  /** The generated policies referenced so far. */
  generated(): Authorization[];
}

/**
 * Effective mode per workload: a selector PeerAuthentication in its namespace (oldest wins), else the namespace's
 * (no selector), else the mesh-wide one in the root namespace, else PERMISSIVE. UNSET inherits. STRICT maps to the
 * static strict policy; port-level exceptions to a per-object policy `converted_peer_authentication_<name>`.
 */
export function indexPeerAuthentications(list: PeerAuthentication[], rootNamespace: string): PeerAuthenticationIndex {
  const sorted = [...list].sort(older);
  const meshWide = sorted.find((p) => p.metadata.namespace === rootNamespace && !p.spec?.selector);
  const byNs = new Map<string, PeerAuthentication>();
  const selectorByNs = new Map<string, PeerAuthentication[]>();
  for (const p of sorted) {
    const ns = p.metadata.namespace!;
    if (p.spec?.selector) (selectorByNs.get(ns) ?? selectorByNs.set(ns, []).get(ns)!).push(p);
    else if (!byNs.has(ns)) byNs.set(ns, p);
  }
  const used = new Map<string, Authorization>();
  return {
    policiesFor(namespace, labels) {
      const selected = selectorByNs.get(namespace)?.find((p) => matchLabels(p.spec?.selector?.matchLabels, labels));
      const chain = [selected, byNs.get(namespace), namespace === rootNamespace ? undefined : meshWide];
      let mode: MtlsMode = 'PERMISSIVE';
      for (const pa of chain) {
        const m = modeOf(pa);
        if (pa && m !== 'UNSET') {
          mode = m;
          break;
        }
      }
      const ports = Object.entries(selected?.spec?.portLevelMtls ?? {}).filter(([, v]) => v?.mode && v.mode !== 'UNSET');
      if (selected && ports.length) {
        const strictPorts = ports.filter(([, v]) => v.mode === 'STRICT').map(([p]) => Number(p));
        const openPorts = ports.filter(([, v]) => v.mode !== 'STRICT').map(([p]) => Number(p));
        const name = `converted_peer_authentication_${selected.metadata.name}`;
        const rules =
          mode === 'STRICT'
            ? openPorts.length
              ? [[[{ notPrincipals: [{ Presence: [] as [] }] }], [{ notDestinationPorts: openPorts }]]]
              : [[[{ notPrincipals: [{ Presence: [] as [] }] }]]]
            : strictPorts.length
              ? [[[{ notPrincipals: [{ Presence: [] as [] }] }], [{ destinationPorts: strictPorts }]]]
              : [];
        if (!rules.length) return [];
        const pol: Authorization = { name, namespace, scope: 'WorkloadSelector', action: 'Deny', dryRun: false, rules };
        used.set(`${namespace}/${name}`, pol);
        return [`${namespace}/${name}`];
      }
      if (mode !== 'STRICT') return [];
      const strict = staticStrictPolicy(rootNamespace);
      used.set(`${rootNamespace}/${STATIC_STRICT_NAME}`, strict);
      return [`${rootNamespace}/${STATIC_STRICT_NAME}`];
    },
    generated: () => [...used.values()],
  };
}

export function matchLabels(want: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(want ?? {})) if (labels[k] !== v) return false;
  return true;
}
