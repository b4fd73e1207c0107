// Certificates per workload identity: fetched through a pluggable source (istiod-like CA client, or a local CA),
// renewed at half of their validity, with failures backing off up to 150s while the valid certificate is kept.
// A certificate that expires while renewal keeps failing is logged once (identity, expiry, the CA's error) and
// reported by `expired()` (the proxies' readiness); the next successful renewal clears it. At most `maxIdentities`
// identities are held: the least recently asked for is forgotten (its renewal stops) beyond it.
import { EventEmitter } from 'node:events';
import * as crypto from 'node:crypto';
import * as tls from 'node:tls';
import { CertificateAuthority, createCsr, certificateUris, signCsr } from './x509.js';
import { Backoff, type BackoffOptions } from '../plumbing/backoff.js';

export interface CertificateSource {
  /** Asks the CA to sign `csrPem` for `identity`. Returns the chain (leaf first) and the trust roots. */
  fetch(identity: string, csrPem: string): Promise<{ certChainPem: string[]; rootsPem: string[] }>;
}

/** A workload's certificate. `keyPem` is secret: never log it or dump it. */
export interface WorkloadCertificate {
  identity: string;
  keyPem: string;
  certChainPem: string[];
  rootsPem: string[];
  notBefore: Date;
  notAfter: Date;
  /** Serial number (hex) of the leaf. */
  serial: string;
}

export const TLS_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

/** TLS 1.3 options with this certificate, its key and its roots. */
export function secureContextOptions(cert: WorkloadCertificate): tls.SecureContextOptions {
  return {
    key: cert.keyPem,
    cert: cert.certChainPem.join(''),
    ca: cert.rootsPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TLS_CIPHERS,
  };
}

const contexts = new WeakMap<WorkloadCertificate, tls.SecureContext>();
/** A TLS 1.3 secure context holding this certificate, its key and its roots (cached per certificate). */
export function secureContextOf(cert: WorkloadCertificate): tls.SecureContext {
  let ctx = contexts.get(cert);
  if (!ctx) {
    ctx = tls.createSecureContext(secureContextOptions(cert));
    contexts.set(cert, ctx);
  }
  return ctx;
}

/** Signs CSRs in process with a CA: explicit mode and tests. */
export class LocalCA implements CertificateSource {
  constructor(
    readonly ca: CertificateAuthority,
    private readonly ttlSeconds = 86_400,
  ) {}
  async fetch(identity: string, csrPem: string): Promise<{ certChainPem: string[]; rootsPem: string[] }> {
    const chain = signCsr(this.ca, csrPem, { identity, ttlSeconds: this.ttlSeconds });
    const roots = this.ca.parentsPem.length ? [this.ca.parentsPem[this.ca.parentsPem.length - 1]!] : [this.ca.certPem];
    return { certChainPem: chain.filter((c) => !roots.includes(c)), rootsPem: roots };
  }
}

export interface CertificateManagerOptions {
  /** Longest wait between failed renewals (ms). Default 150s. */
  maxBackoffMs?: number;
  initialBackoffMs?: number;
  /** Identities held at most; beyond it the least recently used one is forgotten (its renewal stops). Default 4096. */
  maxIdentities?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

interface Entry {
  current?: WorkloadCertificate;
  pending?: Promise<WorkloadCertificate>;
  timer?: NodeJS.Timeout;
  /** Fires at the current certificate's notAfter. */
  expiryTimer?: NodeJS.Timeout;
  backoff: Backoff;
  /** Why the last fetch failed (cleared by a success). */
  lastError?: string;
}

export const DEFAULT_MAX_IDENTITIES = 4096;

/**
 * Holds one certificate per workload identity. Events: `updated` (identity, cert) after every (re)issue;
 * `expired` (identity, cert, reason) when a certificate expires before a renewal succeeded.
 */
export class CertificateManager extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly backoff: BackoffOptions;
  private readonly maxIdentities: number;
  private closed = false;

  constructor(
    private readonly source: CertificateSource,
    private readonly opts: CertificateManagerOptions = {},
  ) {
    super();
    this.backoff = { initialMs: opts.initialBackoffMs ?? 1_000, maxMs: opts.maxBackoffMs ?? 150_000 };
    this.maxIdentities = Math.max(1, opts.maxIdentities ?? DEFAULT_MAX_IDENTITIES);
  }

  /** Identities held (each with a renewal loop). */
  get size(): number {
    return this.entries.size;
  }

  /** Identities held, least recently used first. */
  identities(): string[] {
    return [...this.entries.keys()];
  }

  /** The certificate for `identity`, fetching it on first use. Concurrent callers share one fetch. */
  async get(identity: string): Promise<WorkloadCertificate> {
    let e = this.entries.get(identity);
    if (e) {
      // Most recently used last: the map's order is the eviction order.
      this.entries.delete(identity);
      this.entries.set(identity, e);
    } else {
      e = { backoff: new Backoff(this.backoff) };
      this.entries.set(identity, e);
      for (const oldest of this.entries.keys()) {
        if (this.entries.size <= this.maxIdentities) break;
        this.opts.log?.('warn', `forgetting the certificate of ${oldest}: more than ${this.maxIdentities} identities, it is the least recently used`);
        this.forget(oldest);
      }
    }
    if (e.current && e.current.notAfter.getTime() > Date.now()) return e.current;
    if (!e.pending) e.pending = this.issue(identity, e);
    return e.pending;
  }

  /** The current certificate, if one was fetched (no fetch). */
  current(identity: string): WorkloadCertificate | undefined {
    return this.entries.get(identity)?.current;
  }

  /** Starts fetching without waiting (ztunnel prefetches when a local workload appears). */
  prefetch(identity: string): void {
    this.get(identity).catch(() => undefined);
  }

  /**
   * Identities whose certificate has expired with no renewed one (renewal failing, or still under way), with the
   * CA's last error: a proxy serving them is not ready.
   */
  expired(now = Date.now()): { identity: string; notAfter: Date; reason: string }[] {
    const out: { identity: string; notAfter: Date; reason: string }[] = [];
    for (const [identity, e] of this.entries) {
      if (!e.current || e.current.notAfter.getTime() > now) continue;
      out.push({ identity, notAfter: e.current.notAfter, reason: e.lastError ?? 'no renewal completed yet' });
    }
    return out;
  }

  /** Stops renewing `identity` and drops its certificate. */
  forget(identity: string): void {
    const e = this.entries.get(identity);
    if (!e) return;
    if (e.timer) clearTimeout(e.timer);
    if (e.expiryTimer) clearTimeout(e.expiryTimer);
    this.entries.delete(identity);
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) {
      if (e.timer) clearTimeout(e.timer);
      if (e.expiryTimer) clearTimeout(e.expiryTimer);
    }
  }

  /**
   * Certificates without private keys, for /config_dump. Each certificate carries ztunnel's fields, which
   * `istioctl ztunnel-config certificates` reads (`serialNumber` in decimal, `validFrom`/`expirationTime` in
   * RFC 3339, the roots apart in `rootCerts`), next to Ambit's own (`notBefore`, `notAfter`, hex `serial`, `roots`).
   */
  dump(): CertificateDump[] {
    return [...this.entries].map(([identity, e]) => ({
      identity,
      state: e.current ? (e.current.notAfter.getTime() > Date.now() ? 'Available' : 'Expired') : e.pending ? 'Initializing' : 'Unavailable',
      // The chain without the roots, as ztunnel's dump: a CA that sends its root inside the chain would otherwise
      // show it twice (once as an Intermediate).
      certChain: (e.current?.certChainPem ?? []).filter((c) => !(e.current?.rootsPem ?? []).some((r) => r.trim() === c.trim())).map(describeCertificate),
      rootCerts: (e.current?.rootsPem ?? []).map(describeCertificate),
      roots: e.current?.rootsPem ?? [],
    }));
  }

  private async issue(identity: string, e: Entry): Promise<WorkloadCertificate> {
    try {
      const { csrPem, keyPem } = createCsr(identity);
      const res = await this.source.fetch(identity, csrPem);
      const leafPem = res.certChainPem[0];
      if (!leafPem) throw new Error('CA returned an empty certificate chain');
      const sans = certificateUris(leafPem);
      if (sans.length !== 1 || sans[0] !== identity) throw new Error(`identity mismatch: requested ${identity}, got ${sans.join(',')}`);
      const leaf = new crypto.X509Certificate(leafPem);
      const cert: WorkloadCertificate = {
        identity,
        keyPem,
        certChainPem: res.certChainPem,
        rootsPem: res.rootsPem,
        notBefore: new Date(leaf.validFrom),
        notAfter: new Date(leaf.validTo),
        serial: leaf.serialNumber,
      };
      const wasExpired = e.current !== undefined && e.current.notAfter.getTime() <= Date.now() && e.lastError !== undefined;
      e.current = cert;
      e.pending = undefined;
      e.lastError = undefined;
      e.backoff.reset();
      if (wasExpired) this.opts.log?.('info', `certificate for ${identity} renewed after it expired (serial ${cert.serial}, valid until ${cert.notAfter.toISOString()})`);
      this.watchExpiry(identity, e, cert);
      const half = cert.notBefore.getTime() + (cert.notAfter.getTime() - cert.notBefore.getTime()) / 2;
      this.schedule(identity, e, half - Date.now());
      this.emit('updated', identity, cert);
      return cert;
    } catch (err) {
      e.pending = undefined;
      e.lastError = (err as Error).message;
      this.opts.log?.('warn', `failed to fetch certificate for ${identity}: ${(err as Error).message}`);
      // Keep the valid certificate; retry in the background, and never later than half of its remaining validity
      // (at least 0.5 s apart): a CA back before expiry renews it in time even after a long back-off.
      const left = e.current ? e.current.notAfter.getTime() - Date.now() : 0;
      const wait = left > 0 ? Math.min(e.backoff.next(), Math.max(500, left / 2)) : e.backoff.next();
      this.schedule(identity, e, wait);
      if (e.current && e.current.notAfter.getTime() > Date.now()) return e.current;
      throw err;
    }
  }

  /** At `cert`'s notAfter, if no renewal replaced it: one log line with the reason, `expired`, and a retry now. */
  private watchExpiry(identity: string, e: Entry, cert: WorkloadCertificate): void {
    if (e.expiryTimer) clearTimeout(e.expiryTimer);
    if (this.closed) return;
    e.expiryTimer = setTimeout(
      () => {
        e.expiryTimer = undefined;
        if (this.closed || this.entries.get(identity) !== e || e.current !== cert) return;
        const reason = e.lastError ?? 'no renewal completed before expiry';
        e.lastError ??= reason;
        this.opts.log?.('error', `certificate for ${identity} expired at ${cert.notAfter.toISOString()} (serial ${cert.serial}); renewal failing: ${reason}`);
        this.emit('expired', identity, cert, reason);
        if (!e.pending) this.schedule(identity, e, 0);
      },
      Math.max(0, Math.min(cert.notAfter.getTime() - Date.now() + 1, 2 ** 31 - 1)),
    );
    e.expiryTimer.unref();
  }

  private schedule(identity: string, e: Entry, ms: number): void {
    if (this.closed || this.entries.get(identity) !== e) return;
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (!e.pending) e.pending = this.issue(identity, e);
      e.pending.catch(() => undefined);
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    e.timer.unref();
  }
}

/** One certificate of a dumped chain: public parts only. */
export interface CertificateInfo {
  pem: string;
  /** ztunnel's names: the serial in decimal, the validity in RFC 3339 (seconds). */
  serialNumber: string;
  validFrom: string;
  expirationTime: string;
  /** Ambit's names: the same validity with milliseconds, the serial in hex as Node gives it. */
  notBefore: string;
  notAfter: string;
  serial: string;
}

export interface CertificateDump {
  identity: string;
  /** Available, Expired, Initializing or Unavailable. */
  state: string;
  /** Leaf first, then intermediates; never the roots. */
  certChain: CertificateInfo[];
  rootCerts: CertificateInfo[];
  /** The roots' PEM. */
  roots: string[];
}

function describeCertificate(pem: string): CertificateInfo {
  const c = new crypto.X509Certificate(pem);
  const from = new Date(c.validFrom);
  const to = new Date(c.validTo);
  const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    pem,
    serialNumber: BigInt(`0x${c.serialNumber}`).toString(10),
    validFrom: rfc3339(from),
    expirationTime: rfc3339(to),
    notBefore: from.toISOString(),
    notAfter: to.toISOString(),
    serial: c.serialNumber,
  };
}
