// Pure status computation for waypoint Gateways and GatewayClasses (section 1.4 of the reference).
import type { Condition } from '../kube/resources.js';
import { mergeConditions } from '../kube/status.js';
import { GATEWAY_GROUP } from '../kube/resources.js';
import { MSG, PORT_HBONE, PROTOCOL_HBONE } from './constants.js';
import { effectiveListeners } from './listeners.js';
import { serviceHost } from './names.js';
import type { EndpointSlice, Gateway, GatewayAddress, GatewayStatus, Listener, ListenerStatus, Service } from './types.js';

export interface GatewayStatusInput {
  gateway: Gateway;
  /** Name of the Deployment/Service rendered for it. */
  serviceName: string;
  /** The waypoint Service, when it exists and is ours. */
  service?: Service;
  /** EndpointSlices of that Service. */
  endpointSlices?: EndpointSlice[];
  /** Objects that exist without the managed label and were left untouched ("Kind ns/name"). */
  conflicts?: string[];
  /** Managed objects that belong to another Gateway ("Kind ns/name" -> "ns/gateway"), left untouched. */
  claimed?: Record<string, string>;
  /** Set when the Gateway is not managed (spec.addresses asks for what a waypoint cannot be). */
  unmanagedReason?: string;
  clusterDomain?: string;
  /** RFC 3339 time used for new transitions. */
  now: string;
}

/** Istio's HumanReadableJoin: "a", "a and b", "a, b, and c". */
export function humanReadableJoin(items: string[]): string {
  if (items.length <= 1) return items.join('');
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  return `${items.slice(0, -1).join(', ')}, and ${items[items.length - 1]}`;
}

export const isValidWaypointListener = (l: Listener): boolean => l.port === PORT_HBONE && l.protocol === PROTOCOL_HBONE;

function supportedKinds(l: Listener): Array<{ group: string; kind: string }> {
  if (isValidWaypointListener(l)) return [];
  const k = (kind: string) => ({ group: GATEWAY_GROUP, kind });
  switch (l.protocol) {
    case 'HTTP':
    case 'HTTPS':
      return [k('HTTPRoute'), k('GRPCRoute')];
    case 'TCP':
      return [k('TCPRoute')];
    case 'TLS':
      return [k('TLSRoute')];
    case 'UDP':
      return [k('UDPRoute')];
    default:
      return [];
  }
}

/** A status condition, with observedGeneration when the object's generation is known. */
export const cond = (type: string, status: Condition['status'], reason: string, message: string, generation: number | undefined): Condition => ({
  type,
  status,
  reason,
  message,
  ...(generation !== undefined ? { observedGeneration: generation } : {}),
});

/** True when some endpoint of the slices is ready (an absent `ready` means ready). */
export function hasReadyEndpoint(slices: EndpointSlice[] | undefined): boolean {
  return (slices ?? []).some((s) => (s.endpoints ?? []).some((e) => e.addresses?.length > 0 && e.conditions?.ready !== false));
}

function sortByType(cs: Condition[]): Condition[] {
  return [...cs].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export function computeGatewayStatus(input: GatewayStatusInput): GatewayStatus {
  const gw = input.gateway;
  const gen = gw.metadata.generation;
  const domain = input.clusterDomain ?? 'cluster.local';
  const old = gw.status ?? {};
  const listeners = effectiveListeners(gw);
  const explicitListeners = gw.spec?.listeners ?? [];
  const invalid = listeners.filter((l) => !isValidWaypointListener(l)).map((l) => l.name);

  // Listeners.
  const listenerStatuses: ListenerStatus[] = explicitListeners.map((l) => {
    const oldL = old.listeners?.find((x) => x.name === l.name);
    const valid = isValidWaypointListener(l);
    const conditions = sortByType([
      valid ? cond('Accepted', 'True', 'Accepted', MSG.noErrors, gen) : cond('Accepted', 'False', 'UnsupportedProtocol', MSG.invalidListener, gen),
      cond('Conflicted', 'False', 'NoConflicts', MSG.noErrors, gen),
      cond('Programmed', 'True', 'Programmed', MSG.noErrors, gen),
      cond('ResolvedRefs', 'True', 'ResolvedRefs', MSG.noErrors, gen),
    ]);
    return { name: l.name, supportedKinds: supportedKinds(l), attachedRoutes: oldL?.attachedRoutes ?? 0, conditions: mergeConditions(oldL?.conditions, conditions, input.now) };
  });

  // Accepted.
  let accepted: Condition;
  if (invalid.length > 0) {
    const allInvalid = invalid.length === listeners.length;
    accepted = cond('Accepted', allInvalid ? 'False' : 'True', 'ListenersNotValid', `Invalid listeners: [${invalid.join(' ')}]`, gen);
  } else {
    accepted = cond('Accepted', 'True', 'Accepted', MSG.accepted, gen);
  }
  const resolvedRefs = cond('ResolvedRefs', 'True', 'ResolvedRefs', MSG.resolvedRefs, gen);

  // Programmed.
  const host = serviceHost(input.serviceName, gw.metadata.namespace!, domain);
  const ports = [...new Set(listeners.map((l) => l.port))];
  let programmed: Condition;
  let addresses: GatewayAddress[] | undefined = old.addresses;
  if (input.unmanagedReason) {
    programmed = cond('Programmed', 'False', 'Invalid', input.unmanagedReason, gen);
  } else if (input.claimed && Object.keys(input.claimed).length > 0) {
    const what = Object.entries(input.claimed).map(([obj, owner]) => `${obj} belongs to Gateway ${owner}`);
    programmed = cond('Programmed', 'False', 'Invalid', `${humanReadableJoin(what)}; left untouched, and the waypoint does not run under another Gateway's objects`, gen);
  } else if (input.conflicts && input.conflicts.length > 0) {
    programmed = cond(
      'Programmed',
      'False',
      'Invalid',
      `${humanReadableJoin(input.conflicts)} already exist${input.conflicts.length === 1 ? 's' : ''} and ${input.conflicts.length === 1 ? 'is' : 'are'} not managed by istio.io/mesh-controller (no label gateway.istio.io/managed=istio.io-mesh-controller); left untouched`,
      gen,
    );
  } else if (!input.service) {
    programmed = cond('Programmed', 'False', 'AddressNotUsable', `Failed to assign to any requested addresses: hostname "${host}" not found`, gen);
  } else if (!hasReadyEndpoint(input.endpointSlices)) {
    programmed = cond('Programmed', 'False', 'AddressNotAssigned', `Failed to assign to any requested addresses: no instances found for hostname "${host}"`, gen);
  } else {
    programmed = cond('Programmed', 'True', 'Programmed', `Resource programmed, assigned to service(s) ${humanReadableJoin(ports.map((p) => `${host}:${p}`))}`, gen);
    const ips = (input.service.spec?.clusterIPs ?? (input.service.spec?.clusterIP ? [input.service.spec.clusterIP] : [])).filter((ip) => ip && ip !== 'None');
    addresses = [...ips.map((value) => ({ type: 'IPAddress', value })), { type: 'Hostname', value: host }];
  }

  const status: GatewayStatus = {
    conditions: mergeConditions(old.conditions, sortByType([accepted, programmed, resolvedRefs]), input.now),
    listeners: listenerStatuses,
  };
  // Addresses appear once the waypoint is ready and are never removed afterwards (istiod's rule).
  if (addresses && addresses.length > 0) status.addresses = addresses;
  return status;
}

/** GatewayClass status: Accepted, "Handled by Istio controller". */
export function computeGatewayClassStatus(existing: Condition[] | undefined, generation: number | undefined, now: string): { conditions: Condition[] } {
  return { conditions: mergeConditions(existing, [cond('Accepted', 'True', 'Accepted', MSG.classAccepted, generation)], now) };
}
