// The roots clients are told to trust: the current authority's root (plus any other roots its `root-cert.pem`
// lists, Istio's way of staging a root rotation), and roots retired by a rotation, kept until every certificate
// they may have signed has expired (bounded by the retired root's own end). Both roots are trusted during the
// overlap, so workloads holding certificates from either authority keep talking to each other.

import { X509Certificate } from 'node:crypto';

const same = (a: string, b: string): boolean => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

export class TrustBundle {
  #current: string[] = [];
  readonly #retired: { pem: string; until: number }[] = [];

  /** Installs the current roots; returns the roots that left it (to retire, if wanted). */
  setCurrent(roots: string[]): string[] {
    const gone = this.#current.filter((r) => !roots.some((n) => same(n, r)));
    this.#current = [...roots];
    return gone;
  }

  /** Keeps `pem` trusted until `until` (ms), or its own notAfter if sooner. */
  retire(pem: string, until: number): void {
    const end = Math.min(until, Date.parse(new X509Certificate(pem).validTo));
    const i = this.#retired.findIndex((r) => same(r.pem, pem));
    if (i >= 0) this.#retired.splice(i, 1);
    this.#retired.push({ pem, until: end });
  }

  /** Current roots first, then retired ones still in their overlap; no duplicates. */
  roots(now = Date.now()): string[] {
    const out: string[] = [];
    for (const pem of [...this.#current, ...this.#retired.filter((r) => r.until > now).map((r) => r.pem)])
      if (!out.some((o) => same(o, pem))) out.push(pem);
    for (let i = this.#retired.length - 1; i >= 0; i--) if (this.#retired[i]!.until <= now) this.#retired.splice(i, 1);
    return out;
  }
}
