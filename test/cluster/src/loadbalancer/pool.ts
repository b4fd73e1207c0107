// The LoadBalancer address allocator's decisions, as a pure function of the Services it sees: which Service
// keeps, gets or loses which address of the pool. No state of its own, so nothing can leak: an address is free
// exactly when no eligible Service holds it in its status.

/** The parts of a Service the allocator reads. */
export interface ServiceView {
  namespace: string;
  name: string;
  /** RFC 3339; the older Service wins an address two claim. */
  creationTimestamp: string;
  type?: string;
  /** Set: another load balancer implementation owns the Service. */
  loadBalancerClass?: string;
  /** The deprecated spec.loadBalancerIP: the address asked for. */
  loadBalancerIP?: string;
  /** The IPs in status.loadBalancer.ingress now. */
  ingressIPs: string[];
  resourceVersion?: string;
}

/** A status change: `ips` is the whole new status.loadBalancer.ingress (empty: clear it). */
export interface Decision {
  namespace: string;
  name: string;
  ips: string[];
  resourceVersion?: string;
  why: string;
}

export interface Pool {
  cidr: string;
  /** First and last usable address as 32-bit numbers (network and broadcast addresses excluded). */
  first: number;
  last: number;
}

function ipToNumber(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

const numberToIp = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** An IPv4 pool from a CIDR (a /24 gives .1 to .254). */
export function parsePool(cidr: string): Pool {
  const [addr, bits] = cidr.split('/');
  const base = ipToNumber(addr ?? '');
  const prefix = Number(bits);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new Error(`bad pool ${cidr}`);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(base / size) * size;
  return { cidr, first: network + 1, last: network + size - 2 };
}

export function inPool(pool: Pool, ip: string): boolean {
  const n = ipToNumber(ip);
  return n !== undefined && n >= pool.first && n <= pool.last;
}

const key = (s: Pick<ServiceView, 'namespace' | 'name'>) => `${s.namespace}/${s.name}`;
const eligible = (s: ServiceView) => s.type === 'LoadBalancer' && !s.loadBalancerClass;
const sameIps = (a: string[], b: string[]) => a.length === b.length && a.every((ip, i) => ip === b[i]);

/**
 * The status changes that bring `services` to a consistent assignment:
 * - a LoadBalancer Service (without a loadBalancerClass) keeps the pool address it holds, unless an older Service
 *   holds it too or it asks for another one (spec.loadBalancerIP);
 * - otherwise it gets the address it asks for when that is in the pool and free, or the lowest free one; when
 *   it asks for an address outside the pool or taken, or the pool is exhausted, it gets none;
 * - a Service that is no longer of type LoadBalancer loses the pool addresses in its status.
 * A deleted Service is simply absent: its address is free for the next one.
 */
export function planAddresses(services: ServiceView[], pool: Pool): Decision[] {
  const decisions: Decision[] = [];
  const decide = (s: ServiceView, ips: string[], why: string) => {
    if (!sameIps(s.ingressIPs, ips)) decisions.push({ namespace: s.namespace, name: s.name, ips, resourceVersion: s.resourceVersion, why });
  };
  for (const s of services) {
    if (!eligible(s) && s.type !== 'LoadBalancer' && s.ingressIPs.some((ip) => inPool(pool, ip))) {
      decide(s, s.ingressIPs.filter((ip) => !inPool(pool, ip)), `type ${s.type ?? 'ClusterIP'}: address released`);
    }
  }
  const ordered = services
    .filter(eligible)
    .sort((a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || key(a).localeCompare(key(b)));
  const taken = new Set<string>();
  const kept = new Map<string, string>();
  for (const s of ordered) {
    const held = s.ingressIPs.find((ip) => inPool(pool, ip) && !taken.has(ip) && (!s.loadBalancerIP || s.loadBalancerIP === ip));
    if (held) {
      taken.add(held);
      kept.set(key(s), held);
    }
  }
  let next = pool.first;
  const lowestFree = (): string | undefined => {
    for (; next <= pool.last; next++) {
      const ip = numberToIp(next);
      if (!taken.has(ip)) return ip;
    }
    return undefined;
  };
  for (const s of ordered) {
    const held = kept.get(key(s));
    if (held) {
      decide(s, [held], 'kept');
      continue;
    }
    if (s.loadBalancerIP) {
      if (inPool(pool, s.loadBalancerIP) && !taken.has(s.loadBalancerIP)) {
        taken.add(s.loadBalancerIP);
        decide(s, [s.loadBalancerIP], 'requested address assigned');
      } else {
        decide(s, [], `requested address ${s.loadBalancerIP} is ${inPool(pool, s.loadBalancerIP) ? 'taken' : `outside the pool ${pool.cidr}`}`);
      }
      continue;
    }
    const ip = lowestFree();
    if (ip) {
      taken.add(ip);
      decide(s, [ip], 'assigned');
    } else {
      decide(s, [], `pool ${pool.cidr} exhausted`);
    }
  }
  return decisions;
}
