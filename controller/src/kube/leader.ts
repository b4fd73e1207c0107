// Lease-based leader election (coordination.k8s.io/v1), after client-go's: a candidate takes the Lease when it is
// absent, held by itself, or not renewed within leaseDurationSeconds as seen by the candidate's own clock (so clock
// skew between replicas does not matter); the holder renews every retry period and steps down when it could not
// renew for renewDeadline (each request aborted when the deadline passes). Writes are conditional on resourceVersion, so two replicas never both hold the Lease.
import { KubeClient, KubeError } from './client.js';
import { nullLogger, type Logger } from '@ambit/mesh-api';
import { registry as defaultRegistry, type Registry } from './metrics.js';
import { R, type KubeObject } from './resources.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
  registry?: Registry;
}

export interface LeaderCallbacks {
  /** Called on becoming leader; the signal aborts when leadership is lost or the elector stops. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export const microTime = (d: Date = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class LeaderElector {
  private observed?: { record: string; at: number };
  private leading = false;
  private readonly stopController = new AbortController();
  private loop?: Promise<void>;
  private readonly log: Logger;
  private readonly leaseDuration: number;
  private readonly renewDeadline: number;
  private readonly retryPeriod: number;
  private readonly gauge;
  lastLeader = '';

  constructor(private readonly client: KubeClient, private readonly opts: LeaderElectionOptions) {
    this.leaseDuration = opts.leaseDurationSeconds ?? 15;
    // client-go's defaults are 15s / 10s / 2s; shorter leases scale the other two.
    this.renewDeadline = opts.renewDeadlineMs ?? Math.round((this.leaseDuration * 1000 * 2) / 3);
    this.retryPeriod = opts.retryPeriodMs ?? Math.round((this.leaseDuration * 1000 * 2) / 15);
    this.log = (opts.log ?? nullLogger).child('leader', { lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    this.gauge = (opts.registry ?? defaultRegistry).gauge('leader_election_master_status', 'Whether this replica holds the lease (1) or not (0)', ['name']);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Runs the election until stop(): campaigns, leads, steps down, campaigns again. */
  start(cb: LeaderCallbacks): void {
    this.loop ??= this.run(cb);
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.gauge.set({ name: this.opts.name }, v ? 1 : 0);
  }

  private async run(cb: LeaderCallbacks): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      // Campaign.
      while (!stop.aborted && !(await this.attempt(this.renewDeadline))) {
        await sleep(this.retryPeriod * (1 + Math.random() * 0.2), stop);
      }
      if (stop.aborted) break;
      this.setLeading(true);
      this.log.info('became leader');
      const term = new AbortController();
      const leading = Promise.resolve(cb.onStartedLeading(term.signal)).catch((err) => this.log.error('leader work failed', { err }));
      // Renew until a renewal misses the deadline or we are told to stop.
      let lastRenew = Date.now();
      while (!stop.aborted) {
        await sleep(this.retryPeriod, stop);
        if (stop.aborted) break;
        // A renewal may take only what is left of the renew deadline: a request the API server never answers must
        // not keep this replica leading past the lease another replica is waiting out.
        const left = this.renewDeadline - (Date.now() - lastRenew);
        if (left > 0 && (await this.attempt(left))) {
          lastRenew = Date.now();
        } else if (Date.now() - lastRenew >= this.renewDeadline || this.lastLeader !== this.opts.identity) {
          if (this.lastLeader === this.opts.identity) this.log.warn('could not renew the lease within the renew deadline: stepping down', { renewDeadlineMs: this.renewDeadline });
          break;
        }
      }
      term.abort();
      this.setLeading(false);
      await leading;
      if (stop.aborted) await this.release();
      this.log.info('stopped leading');
      await cb.onStoppedLeading?.();
    }
  }

  /** One acquire-or-renew whose requests are aborted after `ms`. */
  private attempt(ms: number): Promise<boolean> {
    return this.tryAcquireOrRenew(AbortSignal.timeout(Math.max(1, ms)));
  }

  private async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const now = new Date();
    const { namespace, name, identity } = this.opts;
    let lease: Lease | undefined;
    try {
      lease = await this.client.getOrUndefined<Lease>(R.lease, namespace, name, { signal });
    } catch (err) {
      this.log.warn('cannot read lease', { err });
      return false;
    }
    const desired: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: this.leaseDuration, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 };
    if (!lease) {
      try {
        await this.client.create(R.lease, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: desired }, { signal });
        this.noteLeader(identity);
        this.observed = { record: JSON.stringify(desired), at: Date.now() };
        return true;
      } catch (err) {
        if (!(err instanceof KubeError && err.conflict)) this.log.warn('cannot create lease', { err });
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    if (!this.observed || this.observed.record !== record) this.observed = { record, at: Date.now() };
    const holder = spec.holderIdentity ?? '';
    this.noteLeader(holder);
    const duration = (spec.leaseDurationSeconds ?? this.leaseDuration) * 1000;
    const expired = this.observed.at + duration < Date.now();
    if (holder && holder !== identity && !expired) return false;
    if (holder === identity) {
      desired.acquireTime = spec.acquireTime ?? desired.acquireTime;
      desired.leaseTransitions = spec.leaseTransitions ?? 0;
    } else {
      desired.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await this.client.replace<Lease>(R.lease, { ...lease, spec: desired }, undefined, { signal });
      this.observed = { record: JSON.stringify(updated.spec ?? {}), at: Date.now() };
      this.noteLeader(identity);
      return true;
    } catch (err) {
      if (!(err instanceof KubeError && err.conflict)) this.log.warn('cannot update lease', { err });
      return false;
    }
  }

  private noteLeader(identity: string): void {
    if (identity !== this.lastLeader) {
      this.lastLeader = identity;
      if (identity) this.log.info('new leader observed', { leader: identity });
    }
  }

  /** Gives the lease up on a clean stop so a standby takes over at once. */
  private async release(): Promise<void> {
    try {
      const lease = await this.client.getOrUndefined<Lease>(R.lease, this.opts.namespace, this.opts.name);
      if (!lease || lease.spec?.holderIdentity !== this.opts.identity) return;
      await this.client.replace(R.lease, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() } });
    } catch (err) {
      this.log.warn('cannot release lease', { err });
    }
  }
}
