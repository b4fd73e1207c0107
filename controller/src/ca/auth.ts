// Who is calling :15012: the bearer token (a projected ServiceAccount token, audience istio-ca) checked with a
// TokenReview against the API server, as istiod's KubeJWTAuthenticator does. Reviews are bounded: a token the API
// server refused is answered from a negative cache for a while, concurrent requests with one token share one
// review, and reviews of tokens not already known are rate-limited (429), so garbage tokens cannot turn :15012
// into a TokenReview flood against the API server.

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
    /** 401: who you are is unknown; 403: you may not; 429: too many unknown tokens, retry later. */
    readonly status: 401 | 403 | 429 = 401,
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
  /** How long a refused token is answered without asking the API server again (default 30 s). */
  negativeCacheTtlMs?: number;
  /** Entries of each cache (default 10 000). */
  maxCacheEntries?: number;
  /** TokenReviews per second for tokens in neither cache (default 20), with bursts of `reviewBurst` (default 50). */
  reviewsPerSecond?: number;
  reviewBurst?: number;
}

/** Turns `Authorization: Bearer <token>` into a {@link Caller}; throws {@link AuthError}. */
export class Authenticator {
  readonly #opts: Required<AuthenticatorOptions>;
  readonly #cache = new Map<string, { caller: Caller; until: number }>();
  readonly #refused = new Map<string, { message: string; until: number }>();
  readonly #inflight = new Map<string, Promise<Caller>>();
  #tokens: number;
  #refilledAt = Date.now();
  /** TokenReviews asked of the API server (tests, metrics). */
  reviews = 0;

  constructor(opts: AuthenticatorOptions) {
    this.#opts = { audiences: [CA_AUDIENCE], cacheTtlMs: 60_000, negativeCacheTtlMs: 30_000, maxCacheEntries: 10_000, reviewsPerSecond: 20, reviewBurst: 50, ...opts };
    this.#tokens = this.#opts.reviewBurst;
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
    const refused = this.#refused.get(key);
    if (refused && refused.until > now) throw new AuthError(refused.message);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    if (!this.#takeReviewToken(now)) throw new AuthError('authentication failure: too many token reviews; retry later', 429);
    const p = this.#review(token, key).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  #takeReviewToken(now: number): boolean {
    const { reviewsPerSecond: rate, reviewBurst: burst } = this.#opts;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * rate);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  async #review(token: string, key: string): Promise<Caller> {
    let res: TokenReviewResult;
    this.reviews++;
    try {
      res = await this.#opts.review(token, this.#opts.audiences);
    } catch (err) {
      // The API server's trouble, not the token's: not cached.
      throw new AuthError(`authentication failure: token review failed: ${(err as Error).message}`);
    }
    const refuse = (message: string): never => {
      const now = Date.now();
      if (this.#refused.size >= this.#opts.maxCacheEntries) evict(this.#refused, now, this.#opts.maxCacheEntries);
      this.#refused.set(key, { message, until: now + this.#opts.negativeCacheTtlMs });
      throw new AuthError(message);
    };
    if (!res.authenticated) return refuse(`authentication failure: ${res.error || 'token not authenticated'}`);
    if (res.audiences && !res.audiences.some((a) => this.#opts.audiences.includes(a))) return refuse('authentication failure: token audience mismatch');
    const parts = (res.user?.username ?? '').split(':');
    if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount' || !parts[2] || !parts[3])
      return refuse('authentication failure: not a service account token');
    const extra = res.user?.extra ?? {};
    const caller: Caller = { namespace: parts[2], serviceAccount: parts[3] };
    if (extra[EXTRA_POD_NAME]?.[0]) caller.podName = extra[EXTRA_POD_NAME][0];
    if (extra[EXTRA_POD_UID]?.[0]) caller.podUid = extra[EXTRA_POD_UID][0];
    if (extra[EXTRA_NODE_NAME]?.[0]) caller.nodeName = extra[EXTRA_NODE_NAME][0];
    const now = Date.now();
    const until = Math.min(now + this.#opts.cacheTtlMs, tokenExpiry(token) ?? Infinity);
    if (this.#cache.size >= this.#opts.maxCacheEntries) evict(this.#cache, now, this.#opts.maxCacheEntries);
    this.#cache.set(key, { caller, until });
    return caller;
  }
}

/** Drops expired entries, then the oldest, until there is room for one. */
function evict(cache: Map<string, { until: number }>, now: number, max: number): void {
  for (const [k, v] of cache) if (v.until <= now) cache.delete(k);
  while (cache.size >= max) cache.delete(cache.keys().next().value!);
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
