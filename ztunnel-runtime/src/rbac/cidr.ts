// IP / CIDR containment for IPv4 and IPv6, with parsed prefixes cached.
import * as net from 'node:net';

interface Prefix {
  v6: boolean;
  base: bigint;
  mask: bigint;
}

function ipToBig(ip: string): { v6: boolean; n: bigint } | undefined {
  const kind = net.isIP(ip);
  if (kind === 4) {
    const p = ip.split('.').map(Number);
    return { v6: false, n: BigInt(((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!) };
  }
  if (kind === 6) {
    let s = ip;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (v4) {
      const n = ipToBig(v4[1]!)!.n;
      s = s.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head, tail] = s.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    let n = 0n;
    for (const g of groups) n = (n << 16n) | BigInt(parseInt(g || '0', 16));
    // IPv4-mapped IPv6 compares as IPv4
    if (n >> 32n === 0xffffn) return { v6: false, n: n & 0xffffffffn };
    return { v6: true, n };
  }
  return undefined;
}

const cache = new Map<string, Prefix | null>();

function prefixOf(cidr: string): Prefix | null {
  let p = cache.get(cidr);
  if (p !== undefined) return p;
  const [addr, len] = cidr.split('/') as [string, string | undefined];
  const ip = ipToBig(addr);
  if (!ip) p = null;
  else {
    const bits = ip.v6 ? 128 : 32;
    const l = len === undefined ? bits : Number(len);
    if (!(l >= 0 && l <= bits)) p = null;
    else {
      const mask = l === 0 ? 0n : ((1n << BigInt(l)) - 1n) << BigInt(bits - l);
      p = { v6: ip.v6, base: ip.n & mask, mask };
    }
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(cidr, p);
  return p;
}

/** Does `cidr` (`a.b.c.d/n`, IPv6, or a bare IP) contain `ip`? */
export function cidrContains(cidr: string, ip: string): boolean {
  const p = prefixOf(cidr);
  const a = ipToBig(ip);
  if (!p || !a || p.v6 !== a.v6) return false;
  return (a.n & p.mask) === p.base;
}

export function isValidCidr(cidr: string): boolean {
  return prefixOf(cidr) !== null;
}
