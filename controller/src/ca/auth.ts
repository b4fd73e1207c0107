// Who is calling :15012: the bearer token (a projected ServiceAccount token, audience istio-ca) checked with a
// TokenReview against the API server, as istiod's KubeJWTAuthenticator does.

import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/client.js';

export const CA_AUDIENCE = 'istio-ca';
/** TokenReview `user.extra` keys the API server fills for pod-bound tokens. */
export const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
export const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
export const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';

/** What a TokenReview answers (`status`). */
export interface TokenReviewResult {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

/** Reviews a token for the given audiences. Injected, so tests run without an API server. */
export type TokenReviewer = (token: string, audiences: string[]) => Promise<TokenReviewResult>;

/** TokenReview through the controller's API client (needs RBAC `create tokenreviews`). */
export function kubeTokenReviewer(client: KubeClient): TokenReviewer {
  return async (token, audiences) => {
    const review = await client.request<{ status?: TokenReviewResult }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      timeoutMs: 10_000,
    });
    return review.status ?? {};
  };
}

/** The authenticated caller: a ServiceAccount, and the pod the token is bound to when it is. */
export interface Caller {
  namespace: string;
  serviceAccount: string;
  podName?: string;
  podUid?: string;
  nodeName?: string;
}

export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    message: string,
    /** 401: who you are is unknown; 403: you may not. */
    readonly status: 401 | 403 = 401,
  ) {
    super(message);
  }
}

export const callerKey = (c: Pick<Caller, 'namespace' | 'serviceAccount'>): string => `${c.namespace}/${c.serviceAccount}`;

export interface AuthenticatorOptions {
  review: TokenReviewer;
  audiences?: string[];
  /** How long a positive review is reused (default 60 s; never past the token's own expiry). */
  cacheTtlMs?: number;
  maxCacheEntries?: number;
}

/** Turns `Authorization: Bearer <token>` into a {@link Caller}; throws {@link AuthError}. */
export class Authenticator {
  readonly #opts: Required<AuthenticatorOptions>;
  readonly #cache = new Map<string, { caller: Caller; until: number }>();

  constructor(opts: AuthenticatorOptions) {
    this.#opts = { audiences: [CA_AUDIENCE], cacheTtlMs: 60_000, maxCacheEntries: 10_000, ...opts };
  }

  async authenticate(authorization: string | string[] | undefined): Promise<Caller> {
    const header = Array.isArray(authorization) ? authorization[0] : authorization;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) throw new AuthError('authentication failure: no bearer token');
    const token = m[1]!;
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.caller;
    let res: TokenReviewResult;
    try {
      res = await this.#opts.review(token, this.#opts.audiences);
    } catch (err) {
      throw new AuthError(`authentication failure: token review failed: ${(err as Error).message}`);
    }
    if (!res.authenticated) throw new AuthError(`authentication failure: ${res.error || 'token not authenticated'}`);
    if (res.audiences && !res.audiences.some((a) => this.#opts.audiences.includes(a)))
      throw new AuthError('authentication failure: token audience mismatch');
    const parts = (res.user?.username ?? '').split(':');
    if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount' || !parts[2] || !parts[3])
      throw new AuthError('authentication failure: not a service account token');
    const extra = res.user?.extra ?? {};
    const caller: Caller = { namespace: parts[2], serviceAccount: parts[3] };
    if (extra[EXTRA_POD_NAME]?.[0]) caller.podName = extra[EXTRA_POD_NAME][0];
    if (extra[EXTRA_POD_UID]?.[0]) caller.podUid = extra[EXTRA_POD_UID][0];
    if (extra[EXTRA_NODE_NAME]?.[0]) caller.nodeName = extra[EXTRA_NODE_NAME][0];
    const until = Math.min(now + this.#opts.cacheTtlMs, tokenExpiry(token) ?? Infinity);
    if (this.#cache.size >= this.#opts.maxCacheEntries) this.#evict(now);
    this.#cache.set(key, { caller, until });
    return caller;
  }

  #evict(now: number): void {
    for (const [k, v] of this.#cache) if (v.until <= now) this.#cache.delete(k);
    while (this.#cache.size >= this.#opts.maxCacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
  }
}

/** `exp` of a JWT, in ms, without verifying it (the TokenReview did). */
function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
