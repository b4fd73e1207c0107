// The HBONE CONNECT's `Forwarded` header (RFC 7239), in one place: the source ztunnel writes it (`for=` the client's
// address and port, `host=` the Service it asked for), the destination ztunnel reads `host=` to name the Service
// and the waypoint reads `for=` to learn the client. Only the first element counts: later ones were added by hops
// after the source.
import { isIP } from 'node:net';
import { formatAuthority } from './h2.js';

/** `for="<ip>:<port>"` (IPv6 bracketed), plus `;host=<hostname>` when the source named a Service. */
export function formatForwarded(client: { ip: string; port: number }, host?: string): string {
  return `for="${formatAuthority(client.ip, client.port)}"${host ? `;host=${host}` : ''}`;
}

/** A parameter of the header's first element by name (case-insensitive), unquoted; undefined if absent or empty. */
export function forwardedParam(header: string | string[] | undefined, name: string): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const want = name.toLowerCase();
  for (const pair of value.split(',')[0]!.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== want) continue;
    const v = pair.slice(eq + 1).trim();
    return (v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v) || undefined;
  }
  return undefined;
}

/**
 * The client of the first element's `for=`: `10.0.0.1:4000`, `10.0.0.1`, `[::1]:4000` or `[::1]`. Undefined for
 * obfuscated or unknown nodes (`_hidden`, `unknown`) and for anything that is not an IP address with an optional
 * valid port.
 */
export function forwardedFor(header: string | string[] | undefined): { address: string; port?: number } | undefined {
  const v = forwardedParam(header, 'for');
  if (!v) return undefined;
  let address: string;
  let port: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return undefined;
    address = v.slice(1, end);
    const rest = v.slice(end + 1);
    if (rest && !rest.startsWith(':')) return undefined;
    port = rest ? rest.slice(1) : undefined;
    if (isIP(address) !== 6) return undefined;
  } else {
    if (isIP(v) === 6) return { address: v }; // unbracketed IPv6 (no port): lenient
    const i = v.indexOf(':');
    if (i >= 0 && v.indexOf(':', i + 1) >= 0) return undefined;
    address = i >= 0 ? v.slice(0, i) : v;
    port = i >= 0 ? v.slice(i + 1) : undefined;
    if (isIP(address) !== 4) return undefined;
  }
  if (port === undefined) return { address };
  const n = /^\d{1,5}$/.test(port) ? Number(port) : 0;
  return n > 0 && n < 65536 ? { address, port: n } : undefined;
}
