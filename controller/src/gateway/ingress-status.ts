// Pure status of a class `istio` Gateway as istiod writes it (conversion.go reportGatewayStatus,
// setProgrammedCondition; context.go ResolveGatewayInstances): Accepted, Programmed from the Service and its ready
// endpoints, `status.addresses` from the LoadBalancer (or the Service hostname when it is not a LoadBalancer), and
// per listener the conditions resolved in ingress-listeners.ts.
import type { Condition } from '../kube/resources.js';
import { mergeConditions } from '../kube/status.js';
import { MSG } from './constants.js';
import type { ResolvedListener } from './ingress-listeners.js';
import { serviceHost } from './names.js';
import { cond, hasReadyEndpoint, humanReadableJoin } from './status.js';
import type { EndpointSlice, Gateway, GatewayAddress, GatewayStatus, ListenerStatus, Service } from './types.js';

export interface IngressStatusInput {
  gateway: Gateway;
  listeners: ResolvedListener[];
  serviceName: string;
  /** The rendered Service when it exists and is ours. */
  service?: Service;
  endpointSlices?: EndpointSlice[];
  /** Why the objects could not be applied (another owner), if so. */
  blocked?: string;
  clusterDomain?: string;
  now: string;
}

const isIp = (v: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(v) || v.includes(':');

/** The LoadBalancer's addresses (Service `status.loadBalancer.ingress` ip/hostname). */
function externalAddresses(svc: Service): string[] {
  const ingress = (svc.status?.loadBalancer as { ingress?: Array<{ ip?: string; hostname?: string }> } | undefined)?.ingress ?? [];
  return [...new Set(ingress.map((i) => i.ip || i.hostname).filter((v): v is string => !!v))].sort();
}

export function computeIngressGatewayStatus(input: IngressStatusInput): GatewayStatus {
  const gw = input.gateway;
  const gen = gw.metadata.generation;
  const old = gw.status ?? {};
  const host = serviceHost(input.serviceName, gw.metadata.namespace!, input.clusterDomain ?? 'cluster.local');

  const listeners: ListenerStatus[] = input.listeners.map((r) => {
    const oldL = old.listeners?.find((x) => x.name === r.listener.name);
    return { name: r.listener.name, supportedKinds: r.supportedKinds, attachedRoutes: oldL?.attachedRoutes ?? 0, conditions: mergeConditions(oldL?.conditions, r.conditions, input.now) };
  });

  const invalid = input.listeners.filter((r) => !r.accepted).map((r) => r.listener.name);
  const accepted = invalid.length
    ? cond('Accepted', invalid.length === input.listeners.length ? 'False' : 'True', 'ListenersNotValid', `Invalid listeners: [${invalid.join(' ')}]`, gen)
    : cond('Accepted', 'True', 'Accepted', MSG.accepted, gen);

  // ResolveGatewayInstances over the ports of the listeners the gateway serves.
  const ports = [...new Set(input.listeners.filter((r) => r.ingress).map((r) => r.listener.port))].sort((a, b) => a - b);
  const internal: string[] = [];
  const external: string[] = [];
  const pending: string[] = [];
  const warnings: string[] = [];
  let usable = true;
  const svc = input.service;
  if (!svc) {
    warnings.push(`hostname "${host}" not found`);
    usable = false;
  } else {
    const ready = hasReadyEndpoint(input.endpointSlices);
    for (const port of ports) {
      if (!ready) {
        warnings.push(`no instances found for hostname "${host}"`);
        continue;
      }
      internal.push(`${host}:${port}`);
      const ext = externalAddresses(svc);
      if (ext.length) external.push(...ext);
      else if (svc.spec?.type === 'LoadBalancer' && !pending.includes(host)) {
        warnings.push(`address pending for hostname "${host}"`);
        pending.push(host);
      }
    }
  }
  warnings.sort();
  let programmed: Condition;
  if (input.blocked) programmed = cond('Programmed', 'False', 'Invalid', input.blocked, gen);
  else if (warnings.length) {
    const msg = internal.length
      ? `Assigned to service(s) ${humanReadableJoin(internal)}, but failed to assign to all requested addresses: ${warnings.join('; ')}`
      : `Failed to assign to any requested addresses: ${warnings.join('; ')}`;
    programmed = cond('Programmed', 'False', usable ? 'AddressNotAssigned' : 'AddressNotUsable', msg, gen);
  } else {
    programmed = cond('Programmed', 'True', 'Programmed', internal.length ? `Resource programmed, assigned to service(s) ${humanReadableJoin(internal)}` : 'Resource programmed', gen);
  }

  // Addresses: the LoadBalancer's; else (class `istio` reports Hostname addresses) the Service host once it is not
  // pending; `networking.istio.io/address-type: IPAddress` reports the ClusterIPs instead. Never removed once set.
  let report = [...new Set(external)];
  if (!report.length && svc && internal.length) {
    const want = gw.metadata.annotations?.['networking.istio.io/address-type'] ?? 'Hostname';
    if (want !== 'Hostname') report = (svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : [])).filter((ip) => ip && ip !== 'None');
    if (want !== 'IPAddress' && !pending.includes(host)) report.push(host);
  }
  const addresses: GatewayAddress[] | undefined = report.length ? report.map((value) => ({ type: isIp(value) ? 'IPAddress' : 'Hostname', value })) : old.addresses;

  const status: GatewayStatus = {
    conditions: mergeConditions(old.conditions, [accepted, programmed], input.now),
    listeners,
  };
  if (addresses?.length) status.addresses = addresses;
  return status;
}
