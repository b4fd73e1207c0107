// Which listeners of a class `istio` Gateway accept a route, and why the others refuse it (pure): parentRef port and
// sectionName, hostname intersection, `allowedRoutes.namespaces` and `allowedRoutes.kinds` (istiod's
// referenceAllowed and createRouteStatus). The gateway's config (routes per listener), the listeners'
// attachedRoutes and the route's status.parents entries all read this.
import type { KubeObject } from '../kube/resources.js';
import { GATEWAY_GROUP } from '../kube/resources.js';
import { matchesSelector } from './binding.js';
import type { ResolvedListener } from './ingress-listeners.js';
import type { Gateway, Listener, Namespace } from './types.js';

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  sectionName?: string;
  port?: number;
}

export interface Attachment {
  parentRef: ParentRef;
  /** Names of the listeners that accept the route through this parentRef. */
  listeners: string[];
  /** Why none does: NotAllowedByListeners, NoMatchingListenerHostname or NoMatchingParent. */
  denied?: { reason: string; message: string };
}

/**
 * Bidirectional hostname match, `*` and `*.suffix` wildcards (istio host.Name.Matches); exact names compare without
 * case (Istio Gateway hosts may carry capitals; Gateway API hostnames are lower case by their schema). Shared by
 * Gateway API listeners and the Istio API ingress's servers.
 */
export function hostnamesMatch(a: string, b: string): boolean {
  if (a === '*' || b === '*') return true;
  const wa = a.startsWith('*.');
  const wb = b.startsWith('*.');
  if (wa && wb) return a.length >= b.length ? a.endsWith(b.slice(1)) : b.endsWith(a.slice(1));
  if (wa) return b.endsWith(a.slice(1));
  if (wb) return a.endsWith(b.slice(1));
  return a.toLowerCase() === b.toLowerCase();
}

function namespaceAllowed(l: Listener, gwNs: string, routeNs: string, namespaces: Namespace[]): boolean {
  const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Selector') {
    const ns = namespaces.find((n) => n.metadata.name === routeNs);
    return !!ns && matchesSelector(l.allowedRoutes?.namespaces?.selector, { 'kubernetes.io/metadata.name': routeNs, ...(ns.metadata.labels ?? {}) });
  }
  return gwNs === routeNs;
}

type Denial = { reason: string; message: string; rank: number };

function listenerDenial(route: KubeObject, r: ResolvedListener, p: ParentRef, gw: Gateway, namespaces: Namespace[]): Denial | undefined {
  const l = r.listener;
  if (p.port !== undefined && p.port !== l.port) return { reason: 'NoMatchingParent', message: `port ${p.port} not found`, rank: 4 };
  if (p.sectionName !== undefined && p.sectionName !== l.name) return { reason: 'NoMatchingParent', message: `sectionName "${p.sectionName}" not found`, rank: 4 };
  const routeNs = route.metadata.namespace!;
  const routeHosts = ((route as { spec?: { hostnames?: unknown } }).spec?.hostnames as string[] | undefined) ?? [];
  const hosts = routeHosts.length ? routeHosts : ['*'];
  const parentHost = l.hostname ?? '*';
  const hostMatched = hosts.some((h) => hostnamesMatch(parentHost, h));
  const nsAllowed = namespaceAllowed(l, gw.metadata.namespace!, routeNs, namespaces);
  if (!hostMatched) return { reason: 'NoMatchingListenerHostname', message: `no hostnames matched parent hostname "${l.hostname ?? ''}"`, rank: 2 };
  if (!nsAllowed) return { reason: 'NotAllowedByListeners', message: `hostnames matched parent hostname "${l.hostname ?? ''}", but namespace "${routeNs}" is not allowed by the parent`, rank: 1 };
  if (!r.supportedKinds.some((k) => k.kind === route.kind && k.group === GATEWAY_GROUP)) return { reason: 'NotAllowedByListeners', message: `kind ${GATEWAY_GROUP}/v1/${route.kind} is not allowed`, rank: 1 };
  return undefined;
}

const isGatewayRef = (p: ParentRef): boolean => (p.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (p.kind ?? 'Gateway') === 'Gateway';

/** The parentRefs of `route` that name `gw`, each with the listeners that accept it (or the reason none does). */
export function attachRoute(route: KubeObject, gw: Gateway, listeners: ResolvedListener[], namespaces: Namespace[]): Attachment[] {
  const ns = route.metadata.namespace!;
  const refs = ((route as { spec?: { parentRefs?: unknown } }).spec?.parentRefs as ParentRef[] | undefined) ?? [];
  const out: Attachment[] = [];
  for (const p of Array.isArray(refs) ? refs : []) {
    if (!p || typeof p !== 'object' || !isGatewayRef(p) || (p.namespace ?? ns) !== gw.metadata.namespace || p.name !== gw.metadata.name) continue;
    const accepted: string[] = [];
    let worst: Denial | undefined;
    // Only listeners the gateway accepted take routes (a listener refused for its protocol has none).
    for (const r of listeners.filter((x) => x.accepted)) {
      const d = listenerDenial(route, r, p, gw, namespaces);
      if (!d) {
        accepted.push(r.listener.name);
        continue;
      }
      if (!worst || d.rank < worst.rank) worst = { ...d };
      else if (d.rank === worst.rank && !worst.message.split('; ').includes(d.message)) worst.message += `; ${d.message}`;
    }
    if (accepted.length) out.push({ parentRef: p, listeners: accepted });
    else out.push({ parentRef: p, listeners: [], denied: worst ? { reason: worst.reason, message: worst.message } : { reason: 'NoMatchingParent', message: 'no listeners' } });
  }
  return out;
}
