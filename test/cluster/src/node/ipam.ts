// Pod IP allocation from the node's podCIDR (10.244.N.0/24): network, broadcast and the first address (.1, the
// bridge's own address on node 0's range) are never handed out. Round-robin, so a freed address is reused last.

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${ip}`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number; size: number } {
  const [ip, p] = cidr.split('/');
  const prefix = Number(p);
  if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`bad CIDR ${cidr}`);
  const size = 2 ** (32 - prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ipToInt(ip) & mask) >>> 0, prefix, size };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= base && n < base + size;
}

export class IpAllocator {
  private readonly base: number;
  private readonly first: number;
  private readonly last: number;
  private readonly reserved: Set<number>;
  private readonly used = new Map<number, string>();
  private next: number;

  constructor(readonly cidr: string, reserved: string[] = []) {
    const { base, size } = parseCidr(cidr);
    if (size < 8) throw new Error(`podCIDR ${cidr} is too small`);
    this.base = base;
    this.first = base + 2;
    this.last = base + size - 2;
    this.reserved = new Set(reserved.filter((ip) => cidrContains(cidr, ip)).map(ipToInt));
    this.next = this.first;
  }

  /** Allocate an address for `owner` (idempotent per owner). */
  allocate(owner: string): string {
    for (const [n, o] of this.used) if (o === owner) return intToIp(n);
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const n = this.first + ((this.next - this.first + i) % span);
      if (this.used.has(n) || this.reserved.has(n)) continue;
      this.used.set(n, owner);
      this.next = n + 1 > this.last ? this.first : n + 1;
      return intToIp(n);
    }
    throw new Error(`podCIDR ${this.cidr} is exhausted`);
  }

  release(ip: string): void {
    this.used.delete(ipToInt(ip));
  }

  inUse(): string[] {
    return [...this.used.keys()].sort((a, b) => a - b).map(intToIp);
  }

  get network(): number {
    return this.base;
  }
}
