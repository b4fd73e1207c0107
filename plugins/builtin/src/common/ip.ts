import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** A matcher for CIDR blocks or single addresses (IPv4 and IPv6). Invalid entries throw. */
export function cidrSet(blocks: string[]): (ip: string | undefined) => boolean {
  const list = new BlockList();
  for (const b of blocks) {
    const [addr, len] = b.split('/');
    const type = isIPv4(addr!) ? 'ipv4' : isIPv6(addr!) ? 'ipv6' : undefined;
    if (!type) throw new Error(`invalid IP block ${JSON.stringify(b)}`);
    if (len === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(len), type);
  }
  return (ip) => {
    if (!ip) return false;
    const a = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
    return list.check(a, isIPv4(a) ? 'ipv4' : 'ipv6');
  };
}
