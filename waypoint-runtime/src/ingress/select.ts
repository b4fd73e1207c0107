// Which listener of an ingress gateway serves a connection or a request: listeners are grouped by the pod port
// they share (one socket each); a TLS handshake gets the certificate whose hostname matches the SNI (exact before
// wildcard, the port's first terminating listener as default); a request goes to the listener whose hostnames
// match its Host most specifically (exact, then the longest wildcard, then a listener without hostnames), and a
// request whose Host selects another listener than its connection's SNI did is misdirected (421).

import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { IngressListener } from '@ambit/mesh-api';
import type { Logger } from '@ambit/plugin-sdk';

/** How a port's bytes are taken: plain HTTP, TLS terminated here, or TLS relayed untouched by SNI. */
export type PortKind = 'http' | 'terminate' | 'passthrough';

export interface PortPlan {
  targetPort: number;
  kind: PortKind;
  /** The port's usable listeners, in config order. */
  listeners: IngressListener[];
  /** `terminate`: the certificate for each SNI. */
  sni?: SniCertificates;
}

/** `*.example.com` matches any name below example.com (not example.com itself); anything else matches exactly. */
export function hostnameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return h.length > p.length - 1 && h.endsWith(p.slice(1));
  return p === h;
}

/** How specific a matching pattern is: exact beats any wildcard, a longer wildcard beats a shorter one. */
function specificity(pattern: string): number {
  if (pattern === '*') return 1;
  return pattern.startsWith('*.') ? 1_000 + pattern.length : 1_000_000 + pattern.length;
}

/** The listener whose hostnames match `host` most specifically (a listener without hostnames matches any, least). */
export function pickListener<L extends { hostnames?: readonly string[] }>(listeners: readonly L[], host: string): L | undefined {
  let best: L | undefined;
  let bestScore = -1;
  for (const l of listeners) {
    let score = -1;
    if (!l.hostnames?.length) score = 0;
    else for (const h of l.hostnames) if (hostnameMatches(h, host)) score = Math.max(score, specificity(h));
    if (score > bestScore) {
      best = l;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The listener a request on a port is served by. Over TLS, the listener the SNI selects is the one the connection
 * was made for: a Host that selects another listener of the port (HTTP/2 connection coalescing, or a client that
 * sends one name in the handshake and another in the request) is misdirected, answered 421 so the client retries
 * on a connection of its own. A Host no listener serves is not misdirected (no listener: 404). An SNI that selects
 * no listener (the default certificate answered it) leaves the choice to the Host alone.
 */
export function pickRequestListener<L extends { hostnames?: readonly string[] }>(
  listeners: readonly L[],
  host: string,
  sni: string | undefined,
): { listener: L } | { misdirected: L } | undefined {
  const byHost = pickListener(listeners, host);
  if (!byHost) return undefined;
  const bySni = sni ? pickListener(listeners, sni) : undefined;
  if (bySni && bySni !== byHost) return { misdirected: bySni };
  return { listener: byHost };
}

/** The `Host` (or `:authority`) without its port. */
export function hostOnly(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const i = authority.lastIndexOf(':');
  return i > 0 ? authority.slice(0, i) : authority;
}

/** Certificates by SNI, built once per config change. */
export class SniCertificates {
  readonly #entries: Array<{ hostnames?: readonly string[]; context: SecureContext; options: SecureContextOptions }> = [];

  get default(): SecureContext | undefined {
    return this.#entries[0]?.context;
  }

  /** The default certificate's options (a handshake without SNI gets it). */
  get defaultOptions(): SecureContextOptions | undefined {
    return this.#entries[0]?.options;
  }

  get size(): number {
    return this.#entries.length;
  }

  add(hostnames: readonly string[] | undefined, context: SecureContext, options: SecureContextOptions): void {
    this.#entries.push({ hostnames, context, options });
  }

  /** The context for `servername`: exact hostname, then the most specific wildcard, then the default. */
  pick(servername: string | undefined): SecureContext | undefined {
    if (!servername) return this.default;
    return pickListener(this.#entries, servername)?.context ?? this.default;
  }
}

function kindOf(l: IngressListener): PortKind | undefined {
  if (l.tls?.mode === 'Passthrough') return 'passthrough';
  if (l.protocol === 'HTTP') return 'http';
  if (l.protocol === 'HTTPS') return 'terminate';
  // TLS terminated into a plain TCP stream (TCPRoute behind TLS) is not served.
  return undefined;
}

/**
 * The ports to open for `listeners`. A listener that cannot be served (an unusable certificate, a kind of traffic
 * another listener already took its port for, TLS terminated to TCP) is logged with its name and left out; a port
 * left with no listener is not opened.
 */
export function planPorts(listeners: readonly IngressListener[], log: Logger): Map<number, PortPlan> {
  const plans = new Map<number, PortPlan>();
  for (const l of listeners) {
    const kind = kindOf(l);
    if (!kind) {
      log.warn('ingress listener skipped', { listener: l.name, port: l.port, reason: `protocol ${l.protocol} with TLS mode ${l.tls?.mode ?? 'none'} is not supported` });
      continue;
    }
    const plan = plans.get(l.targetPort);
    if (plan && plan.kind !== kind) {
      log.warn('ingress listener skipped', { listener: l.name, port: l.port, reason: `port ${l.targetPort} already serves ${plan.kind} traffic` });
      continue;
    }
    let context: SecureContext | undefined;
    let options: SecureContextOptions | undefined;
    if (kind === 'terminate') {
      const certs = l.tls?.certificates ?? [];
      if (certs.length === 0) {
        log.warn('ingress listener skipped', { listener: l.name, port: l.port, reason: 'no certificate to terminate TLS with' });
        continue;
      }
      try {
        options = { cert: certs.map((c) => c.certChain), key: certs.map((c) => c.privateKey) };
        context = createSecureContext(options);
      } catch (err) {
        // The library's message names what is wrong (never the key itself).
        log.warn('ingress listener skipped', { listener: l.name, port: l.port, reason: `unusable certificate: ${(err as Error).message}` });
        continue;
      }
    }
    const p = plan ?? { targetPort: l.targetPort, kind, listeners: [], sni: kind === 'terminate' ? new SniCertificates() : undefined };
    p.listeners.push(l);
    if (context && options) p.sni!.add(l.hostnames, context, options);
    plans.set(l.targetPort, p);
  }
  return plans;
}
