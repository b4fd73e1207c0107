// The control plane's CA (istiod's Citadel role) and the :15012 server it owns, which the push stream shares.
//
//   const ca = new CaComponent({ client });      // the controller's KubeClient
//   await ca.start();            // root loaded/created, :15012 listening, root published to every namespace
//   ca.server.route(...)         // other handlers on :15012 (the push stream registers itself)

import type { KubeClient } from '../kube/client.js';
import type { InformerSet } from '../kube/informers.js';
import { Authenticator, kubeTokenReviewer, type AuthenticatorOptions, type TokenReviewer } from './auth.js';
import { kubeSecretStore, loadAuthority, type MeshAuthority, type SecretStore } from './authority.js';
import { TrustBundle } from './trust-bundle.js';
import { certificateHandler, DEFAULT_CERT_TTL_SECONDS, MAX_CERT_TTL_SECONDS } from './certificates.js';
import { DEFAULT_TRUST_DOMAIN, DEFAULT_TRUSTED_NODE_ACCOUNTS } from './identity.js';
import { logger, type PartialLogger } from '@ambit/mesh-api';
import { kubePodLookup, type PodLookup } from './pods.js';
import { RootCertPublisher } from './root-publisher.js';
import { ControlPlaneServer, type ControlPlaneServerOptions } from './server.js';
import { controlPlaneServingCertificate } from './serving-cert.js';
import { CERTIFICATES_PATH, type ServingCertificate } from '@ambit/mesh-api';

export interface CaComponentOptions {
  /** The controller's API client (TokenReviews, pods, the CA Secret, root ConfigMaps). */
  client?: KubeClient;
  /** The system namespace holding the CA secrets (default istio-system). */
  namespace?: string;
  /** :15012 by default; 0 picks a free port (tests). */
  port?: number;
  host?: string;
  trustDomain?: string;
  /** `ns/sa` allowed to impersonate pods on their node (default istio-system/ztunnel). */
  trustedNodeAccounts?: string[];
  defaultTtlSeconds?: number;
  maxTtlSeconds?: number;
  /** DNS names of the serving certificate (default istiod, istiod.<ns>, istiod.<ns>.svc, ...svc.cluster.local, localhost). */
  servingDnsNames?: string[];
  servingIps?: string[];
  /** Limits of :15012 (connections, idle time, handshake time). */
  limits?: Pick<ControlPlaneServerOptions, 'maxSessions' | 'idleTimeoutMs' | 'handshakeTimeoutMs'>;
  /** TokenReview caching and rate (negative cache, reviews per second). */
  auth?: Omit<AuthenticatorOptions, 'review' | 'audiences'>;
  /** How often Secret cacerts (or istio-ca-secret) is read again for changes (default 60 s; 0: never). */
  reloadIntervalMs?: number;
  /**
   * After a root change, how long :15012 keeps serving its certificate from the old authority (trusted by clients
   * that have not yet received the new root) before switching to one from the new authority (default 120 s).
   */
  servingSwitchDelayMs?: number;
  /** Publish ConfigMap istio-ca-root-cert to every namespace (default true with a client). */
  publishRoot?: boolean;
  /** The process's shared informers, for the root publisher (its own otherwise). */
  informers?: InformerSet;
  log?: PartialLogger;
  /** Test seams: replace the API-server-backed parts. */
  tokenReviewer?: TokenReviewer;
  pods?: PodLookup;
  secrets?: SecretStore;
}

export class CaComponent {
  readonly #opts: CaComponentOptions;
  readonly log: PartialLogger;
  readonly authenticator: Authenticator;
  readonly pods: PodLookup;
  #authority: MeshAuthority | undefined;
  #server: ControlPlaneServer | undefined;
  #serving: ServingCertificate | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #publisher: RootCertPublisher | undefined;
  #secrets: SecretStore | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #switchTimer: NodeJS.Timeout | undefined;
  readonly #bundle = new TrustBundle();

  constructor(opts: CaComponentOptions) {
    for (const [name, v] of [['defaultTtlSeconds (DEFAULT_WORKLOAD_CERT_TTL)', opts.defaultTtlSeconds], ['maxTtlSeconds (MAX_WORKLOAD_CERT_TTL)', opts.maxTtlSeconds]] as const)
      if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new Error(`CA ${name} must be at least 1 second, got ${v}`);
    this.#opts = opts;
    this.log = opts.log ?? logger('ca');
    const review = opts.tokenReviewer ?? (opts.client ? kubeTokenReviewer(opts.client) : undefined);
    if (!review) throw new Error('CaComponent needs a client or a tokenReviewer');
    this.authenticator = new Authenticator({ ...opts.auth, review });
    const pods = opts.pods ?? (opts.client ? kubePodLookup(opts.client) : undefined);
    if (!pods) throw new Error('CaComponent needs a client or a pod lookup');
    this.pods = pods;
  }

  get namespace(): string {
    return this.#opts.namespace ?? 'istio-system';
  }

  get trustDomain(): string {
    return this.#opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  }

  get trustedNodeAccounts(): string[] {
    return this.#opts.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS;
  }

  /** The authority in use (after start). */
  get authority(): MeshAuthority {
    if (!this.#authority) throw new Error('CA not started');
    return this.#authority;
  }

  /** The root the current signing chain ends at (after start). */
  get rootPem(): string {
    return this.authority.rootPem;
  }

  /** Every root clients must trust now: the current ones, and roots retired by a rotation still in their overlap. */
  get trustBundle(): string[] {
    return this.#bundle.roots();
  }

  /** The :15012 server (after start); other components add routes to it. */
  get server(): ControlPlaneServer {
    if (!this.#server) throw new Error('CA not started');
    return this.#server;
  }

  async start(): Promise<void> {
    const secrets = this.#opts.secrets ?? (this.#opts.client ? kubeSecretStore(this.#opts.client) : undefined);
    if (!secrets) throw new Error('CaComponent needs a client or a secret store');
    this.#secrets = secrets;
    this.#authority = await loadAuthority(secrets, { namespace: this.namespace, organization: this.trustDomain });
    this.#bundle.setCurrent([this.#authority.rootPem, ...this.#authority.extraRootsPem]);
    this.log.info('CA ready', {
      source: this.#authority.source,
      secret: `${this.namespace}/${this.#authority.source === 'plugged' ? 'cacerts' : 'istio-ca-secret'}`,
      rootNotAfter: new Date(this.#authority.ca.cert.validTo).toISOString(),
    });
    this.#serving = this.#issueServing();
    this.#server = new ControlPlaneServer({
      port: this.#opts.port ?? 15012,
      host: this.#opts.host,
      key: this.#serving.keyPem,
      cert: this.#serving.certPem + this.#authority.chainPem.filter((c) => c !== this.#authority!.rootPem).join(''),
      ...this.#opts.limits,
      onLimit: (event, fields) =>
        event === 'session-refused' ? this.log.warn('connection refused: too many connections', fields) : this.log.info('idle connection closed', fields),
    });
    this.#server.route(
      CERTIFICATES_PATH,
      certificateHandler({
        authenticator: this.authenticator,
        authority: () => this.authority,
        roots: () => this.trustBundle,
        pods: this.pods,
        trustDomain: this.trustDomain,
        trustedNodeAccounts: this.trustedNodeAccounts,
        defaultTtlSeconds: this.#opts.defaultTtlSeconds ?? DEFAULT_CERT_TTL_SECONDS,
        maxTtlSeconds: this.#opts.maxTtlSeconds ?? MAX_CERT_TTL_SECONDS,
        log: this.log,
      }),
    );
    const port = await this.#server.listen();
    this.log.info('serving CA and config stream', { port });
    this.#scheduleRenewal();
    if (this.#opts.client && this.#opts.publishRoot !== false) {
      this.#publisher = new RootCertPublisher(this.#opts.client, () => this.trustBundle.join(''), this.log, this.#opts.informers);
      await this.#publisher.start();
    }
    const every = this.#opts.reloadIntervalMs ?? 60_000;
    if (every > 0) {
      this.#reloadTimer = setInterval(() => void this.reload().catch(() => {}), every);
      this.#reloadTimer.unref();
    }
  }

  /**
   * Reads the CA Secrets again and switches to what they hold now, without a restart: new certificates come from
   * the new authority at once; roots it no longer lists stay trusted (answered in `roots`, published in
   * istio-ca-root-cert) for the longest certificate lifetime; the serving certificate follows (at once if the root
   * is unchanged, after `servingSwitchDelayMs` if not). A Secret that does not load is logged and the current
   * authority kept. Answers whether anything changed.
   */
  async reload(): Promise<boolean> {
    const cur = this.authority;
    let next: MeshAuthority;
    try {
      next = await loadAuthority(this.#secrets!, { namespace: this.namespace, organization: this.trustDomain });
    } catch (err) {
      this.log.warn('CA secret changed but does not load; keeping the current authority', { error: (err as Error).message });
      throw err;
    }
    const sig = (a: MeshAuthority) => [...a.chainPem, a.rootPem, ...a.extraRootsPem].join('').replace(/\s+/g, '');
    if (sig(next) === sig(cur) && next.ca.keyPem === cur.ca.keyPem) return false;
    this.#authority = next;
    const gone = this.#bundle.setCurrent([next.rootPem, ...next.extraRootsPem]);
    const overlapUntil = Date.now() + (this.#opts.maxTtlSeconds ?? MAX_CERT_TTL_SECONDS) * 1000;
    for (const r of gone) this.#bundle.retire(r, overlapUntil);
    const rootChanged = next.rootPem.replace(/\s+/g, '') !== cur.rootPem.replace(/\s+/g, '');
    this.log.info('CA reloaded', {
      source: next.source,
      rootChanged,
      trustedRoots: this.trustBundle.length,
      rootNotAfter: new Date(next.ca.cert.validTo).toISOString(),
    });
    clearTimeout(this.#switchTimer);
    if (!rootChanged) this.#renewServing();
    else {
      this.#switchTimer = setTimeout(() => this.#renewServing(), this.#opts.servingSwitchDelayMs ?? 120_000);
      this.#switchTimer.unref();
    }
    this.#publisher?.republishAll();
    return true;
  }

  #renewServing(): void {
    try {
      this.#serving = this.#issueServing();
      this.#server?.setCredentials(this.#serving.keyPem, this.#serving.certPem + this.authority.chainPem.filter((c) => c !== this.rootPem).join(''));
      this.log.info('renewed serving certificate', { notAfter: this.#serving.notAfter.toISOString() });
    } catch (err) {
      this.log.warn('serving certificate renewal failed', { error: (err as Error).message });
    }
  }

  /** The root ConfigMap publisher (after start, with a client). */
  get publisher(): RootCertPublisher | undefined {
    return this.#publisher;
  }

  async stop(): Promise<void> {
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#switchTimer);
    clearInterval(this.#reloadTimer);
    await this.#publisher?.stop();
    await this.#server?.close();
  }

  #issueServing(): ServingCertificate {
    return controlPlaneServingCertificate(this.authority.ca, this.namespace, { dnsNames: this.#opts.servingDnsNames, ipAddresses: this.#opts.servingIps });
  }

  #scheduleRenewal(): void {
    const s = this.#serving!;
    const half = Math.max(60_000, (s.notAfter.getTime() - Date.now()) / 2);
    this.#renewTimer = setTimeout(() => {
      this.#renewServing();
      this.#scheduleRenewal();
    }, Math.min(half, 2 ** 31 - 1));
    this.#renewTimer.unref();
  }
}

export { Authenticator, AuthError, kubeTokenReviewer, CA_AUDIENCE, callerKey } from './auth.js';
export type { AuthenticatorOptions, Caller, TokenReviewer, TokenReviewResult } from './auth.js';
export { authorizeIdentity, IMPERSONATION_FAILURE, parseSpiffe, spiffeUri, DEFAULT_TRUSTED_NODE_ACCOUNTS } from './identity.js';
export { kubePodLookup, staticPodLookup, podFacts } from './pods.js';
export type { PodFacts, PodLookup } from './pods.js';
export { authorityFromPem, loadAuthority, kubeSecretStore, SELF_SIGNED_SECRET, PLUGGED_SECRET } from './authority.js';
export type { MeshAuthority, SecretStore } from './authority.js';
export { issueCertificate, certificateHandler, HttpError } from './certificates.js';
export { keyPolicyError, describeKey, MIN_RSA_BITS } from './key-policy.js';
export { ControlPlaneServer, sendJson, readBody } from './server.js';
export type { ControlPlaneServerOptions, RouteHandler } from './server.js';
export { controlPlaneServingCertificate, servingNames } from './serving-cert.js';
export { RootCertPublisher, ROOT_CONFIGMAP, ROOT_CONFIGMAP_KEY, rootConfigMap } from './root-publisher.js';
export { TrustBundle } from './trust-bundle.js';
