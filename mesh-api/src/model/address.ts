// A model address (`network/ip`, or a bare IP for the default network) split into its parts, so every index keys
// addresses the same way.

/** `network/ip` from a VIP string; `ip` alone means the default network (""). */
export function splitNetworkAddress(a: string): { network: string; ip: string } {
  const i = a.indexOf('/');
  if (i < 0) return { network: '', ip: a };
  return { network: a.slice(0, i), ip: a.slice(i + 1) };
}

/** The index key of an address in a network (`undefined` network: the default one). */
export const addressKey = (network: string | undefined, ip: string): string => `${network ?? ''}/${ip}`;
