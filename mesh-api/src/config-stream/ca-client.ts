// The runtime side of the CA: `POST /v1/certificates` on the controller's :15012 with a CSR and the runtime's
// projected token (audience istio-ca), as ztunnel's caclient does over gRPC. Used by ztunnel (impersonating the
// workloads on its node) and by waypoints (their own identity).

import { X509Certificate } from 'node:crypto';
import type { CertificateSource } from '../identity/manager.js';
import type http2 from 'node:http2';
import { connectSession, requestJson, resolveToken, type ControlPlaneTarget } from './transport.js';
import { CERTIFICATES_PATH, type CertificateRequest, type CertificateResponse } from './types.js';

export class CaRequestError extends Error {
  override name = 'CaRequestError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface CaClientOptions extends ControlPlaneTarget {
  /** Requested validity (default 86400 s, Istio's SECRET_TTL). */
  validitySeconds?: number;
  /**
   * Whose identities this client asks for: `self` sends no impersonation (a waypoint asking for its own);
   * `impersonate` (ztunnel) sends `impersonatedIdentity` for every request. Default `impersonate`.
   */
  mode?: 'self' | 'impersonate';
  timeoutMs?: number;
}

/** A {@link CertificateSource} (the identity module's contract) backed by the controller's CA. */
export class CaClient implements CertificateSource {
  readonly #opts: CaClientOptions;
  #session: http2.ClientHttp2Session | undefined;
  #connecting: Promise<http2.ClientHttp2Session> | undefined;

  constructor(opts: CaClientOptions) {
    this.#opts = opts;
  }

  /** Sends `csrPem` for `identity`; checks that the leaf carries exactly that identity. */
  async fetch(identity: string, csrPem: string): Promise<{ certChainPem: string[]; rootsPem: string[] }> {
    const body: CertificateRequest = { csr: csrPem, validitySeconds: this.#opts.validitySeconds ?? 86_400 };
    if ((this.#opts.mode ?? 'impersonate') === 'impersonate') body.impersonatedIdentity = identity;
    const res = await this.request(body);
    const uris = sanUris(new X509Certificate(res.certChain[0]!));
    if (uris.length !== 1 || uris[0] !== identity)
      throw new CaRequestError(`CA issued a certificate for ${uris.join(', ') || 'no URI'}, not ${identity}`, 200);
    return { certChainPem: res.certChain, rootsPem: res.roots };
  }

  /** One raw request; throws {@link CaRequestError} on a non-200 answer. */
  async request(body: CertificateRequest): Promise<CertificateResponse> {
    const token = await resolveToken(this.#opts);
    const session = await this.#getSession();
    let res;
    try {
      res = await requestJson(session, { ':path': CERTIFICATES_PATH, authorization: `Bearer ${token}` }, body, this.#opts.timeoutMs);
    } catch (err) {
      session.destroy();
      throw err;
    }
    if (res.status !== 200) {
      const msg = (res.body as { error?: string } | undefined)?.error ?? res.text.slice(0, 200);
      throw new CaRequestError(`CA refused the request (HTTP ${res.status}): ${msg}`, res.status);
    }
    const out = res.body as CertificateResponse | undefined;
    if (!out || !Array.isArray(out.certChain) || !out.certChain.length || !Array.isArray(out.roots))
      throw new CaRequestError('CA answered without a certificate chain', res.status);
    return out;
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }

  async #getSession(): Promise<http2.ClientHttp2Session> {
    if (this.#session && !this.#session.destroyed && !this.#session.closed) return this.#session;
    this.#connecting ??= connectSession(this.#opts).then(
      (s) => {
        this.#connecting = undefined;
        s.on('error', () => {});
        s.on('close', () => {
          if (this.#session === s) this.#session = undefined;
        });
        s.unref();
        this.#session = s;
        return s;
      },
      (err) => {
        this.#connecting = undefined;
        throw err;
      },
    );
    return this.#connecting;
  }
}

/** URI SANs of a certificate. */
export function sanUris(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}
