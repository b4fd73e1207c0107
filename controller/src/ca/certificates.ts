// `POST /v1/certificates`: Istio's IstioCertificateService.CreateCertificate as JSON over HTTPS.
// {csr, validitySeconds, impersonatedIdentity?} + bearer token -> {certChain: [leaf, ..., root], roots}.

import type http2 from 'node:http2';
import { parseCsr, signCsr } from '@ambit/mesh-api';
import { AuthError, callerKey, type Authenticator } from './auth.js';
import type { MeshAuthority } from './authority.js';
import { authorizeIdentity, type IdentityPolicy } from './identity.js';
import { keyPolicyError } from './key-policy.js';
import { BodyTooLarge, readBody, sendJson } from './server.js';

export const DEFAULT_CERT_TTL_SECONDS = 24 * 3600;
export const MAX_CERT_TTL_SECONDS = 90 * 24 * 3600;

export interface CertificateLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface CertificateServiceOptions extends IdentityPolicy {
  authenticator: Authenticator;
  authority: () => MeshAuthority;
  /** The roots to answer (default: the authority's): during a rotation, old and new. */
  roots?: () => string[];
  defaultTtlSeconds?: number;
  maxTtlSeconds?: number;
  log?: CertificateLogger;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface IssueRequest {
  authorization: string | string[] | undefined;
  body: unknown;
}

/** The request logic, transport aside: answers the response body or throws {@link HttpError}/{@link AuthError}. */
export async function issueCertificate(opts: CertificateServiceOptions, req: IssueRequest): Promise<{ certChain: string[]; roots: string[]; identity: string }> {
  const caller = await opts.authenticator.authenticate(req.authorization);
  const b = req.body as { csr?: unknown; validitySeconds?: unknown; impersonatedIdentity?: unknown } | null;
  if (!b || typeof b !== 'object') throw new HttpError(400, 'request body must be a JSON object');
  if (typeof b.csr !== 'string' || !b.csr.includes('CERTIFICATE REQUEST')) throw new HttpError(400, 'csr must be a PEM certificate request');
  if (b.impersonatedIdentity !== undefined && typeof b.impersonatedIdentity !== 'string')
    throw new HttpError(400, 'impersonatedIdentity must be a string');
  const max = opts.maxTtlSeconds ?? MAX_CERT_TTL_SECONDS;
  let ttl = opts.defaultTtlSeconds ?? DEFAULT_CERT_TTL_SECONDS;
  if (b.validitySeconds !== undefined && b.validitySeconds !== 0) {
    // A whole number of seconds (the API's int64): a fraction would floor to a zero-length certificate.
    if (typeof b.validitySeconds !== 'number' || !Number.isInteger(b.validitySeconds) || b.validitySeconds < 0)
      throw new HttpError(400, 'validitySeconds must be a positive whole number of seconds');
    if (b.validitySeconds > max)
      throw new HttpError(400, `requested TTL ${b.validitySeconds}s is greater than the max allowed TTL ${max}s`);
    ttl = Math.floor(b.validitySeconds);
  }
  if (!(ttl >= 1)) throw new HttpError(500, `the CA's default certificate lifetime is ${ttl}s: configure DEFAULT_WORKLOAD_CERT_TTL of at least 1s`);
  const identity = await authorizeIdentity(caller, b.impersonatedIdentity as string | undefined, opts);
  let csrKey;
  try {
    csrKey = parseCsr(b.csr).publicKey;
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
  const keyError = keyPolicyError(csrKey);
  if (keyError) throw new HttpError(400, `CSR key refused: ${keyError}`);
  const authority = opts.authority();
  // A leaf never outlives its CA; a CA at (or past) its end would issue a zero-length (or inverted) certificate.
  const caLeft = new Date(authority.ca.cert.validTo).getTime() - Date.now();
  if (caLeft < 1000)
    throw new HttpError(503, `the mesh CA certificate expired at ${new Date(authority.ca.cert.validTo).toISOString()}: renew Secret cacerts (or istio-ca-secret)`);
  let chain: string[];
  try {
    chain = signCsr(authority.ca, b.csr, { identity, ttlSeconds: ttl });
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
  opts.log?.info('certificate issued', { caller: callerKey(caller), identity, ttlSeconds: ttl });
  return { certChain: chain, roots: opts.roots?.() ?? [authority.rootPem, ...authority.extraRootsPem], identity };
}

export function certificateHandler(opts: CertificateServiceOptions) {
  return async (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): Promise<void> => {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, 64 * 1024));
    } catch (err) {
      return sendJson(res, err instanceof BodyTooLarge ? 413 : 400, { error: `bad request: ${(err as Error).message}` });
    }
    try {
      const out = await issueCertificate(opts, { authorization: req.headers.authorization, body });
      sendJson(res, 200, { certChain: out.certChain, roots: out.roots });
    } catch (err) {
      if (err instanceof AuthError) {
        opts.log?.warn('certificate request refused', { status: err.status, error: err.message, reason: (err as { reason?: string }).reason });
        return sendJson(res, err.status, { error: err.message });
      }
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      throw err;
    }
  };
}
