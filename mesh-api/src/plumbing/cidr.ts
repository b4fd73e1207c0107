// CIDR matching for IPv4 and IPv6 on node:net's BlockList: the prefix arithmetic is Node's; what is ours is the
// parsing (one strict grammar for every caller) and the families. Matching is family-strict, as Istio's ztunnel
// does it: an IPv4 address matches IPv4 blocks only and an IPv6 address IPv6 blocks only, except that an
// IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, `::ffff:a00:1`) is the IPv4 address it maps, and so is a block of
// them (`::ffff:10.0.0.0/104` is 10.0.0.0/8). BlockList alone would let `::/0` match every IPv4 address.
import { BlockList, isIP } from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

export interface Cidr {
  /** The address as written (an IPv4-mapped address as its IPv4 form). */
  address: string;
  prefix: number;
  family: IpFamily;
}

/** The IPv4 address an IPv4-mapped IPv6 address stands for (::ffff:0:0/96), else undefined. */
function unmapped(ip: string): string | undefined {
  if (!/^[0:]*:ffff:/i.test(ip)) return undefined; // cheap pre-filter; the URL parser below does the real work
  let host: string;
  try {
    host = new URL(`http://[${ip}]/`).hostname; // canonical: [::ffff:a00:1]
  } catch {
    return undefined;
  }
  const m = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(host);
  if (!m) return undefined;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** An address's family, IPv4-mapped IPv6 counted as IPv4; undefined when it is not an IP address. */
export function normalizeIp(ip: string): { address: string; family: IpFamily } | undefined {
  const kind = isIP(ip);
  if (kind === 4) return { address: ip, family: 'ipv4' };
  if (kind !== 6) return undefined;
  const v4 = unmapped(ip);
  return v4 ? { address: v4, family: 'ipv4' } : { address: ip, family: 'ipv6' };
}

/**
 * Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a /32 or /128); undefined when it is not one. The prefix is plain
 * decimal digits without a leading zero: the matchers this replaced read `10.0.0.0/` as a /0 (every address) and
 * `/ 8`, `/0x8`, `/8/16` as /8, so a typo in a policy silently widened it.
 */
export function parseCidr(block: string): Cidr | undefined {
  const parts = block.split('/');
  if (parts.length > 2) return undefined;
  const [addr = '', len] = parts;
  if (len !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const kind = isIP(addr);
  if (kind === 0) return undefined;
  const bits = kind === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) return undefined;
  if (kind === 6) {
    const v4 = unmapped(addr);
    if (v4 && prefix >= 96) return { address: v4, prefix: prefix - 96, family: 'ipv4' };
    return { address: addr, prefix, family: 'ipv6' };
  }
  return { address: addr, prefix, family: 'ipv4' };
}

export function isValidCidr(block: string): boolean {
  return parseCidr(block) !== undefined;
}

/** A set of CIDR blocks (or single addresses). Invalid blocks throw, naming the block. */
export class CidrSet {
  readonly #lists: Record<IpFamily, BlockList> = { ipv4: new BlockList(), ipv6: new BlockList() };

  constructor(blocks: Iterable<string>) {
    for (const b of blocks) {
      const c = parseCidr(b);
      if (!c) throw new Error(`invalid IP block ${JSON.stringify(b)}`);
      this.#lists[c.family].addSubnet(c.address, c.prefix, c.family);
    }
  }

  /** Whether `ip` lies in one of the blocks; false for undefined, '' or anything that is not an IP address. */
  has(ip: string | undefined): boolean {
    if (!ip) return false;
    const a = normalizeIp(ip);
    return a !== undefined && this.#lists[a.family].check(a.address, a.family);
  }
}

const single = new Map<string, CidrSet | null>();

/** Does `cidr` contain `ip`? False when either is invalid. Parsed blocks are cached. */
export function cidrContains(cidr: string, ip: string): boolean {
  let set = single.get(cidr);
  if (set === undefined) {
    set = isValidCidr(cidr) ? new CidrSet([cidr]) : null;
    if (single.size > 10_000) single.clear();
    single.set(cidr, set);
  }
  return set !== null && set.has(ip);
}
