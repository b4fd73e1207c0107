// Status reports that runtimes send up the push stream (`{"status": {"conditions": [...]}}` lines): their
// validation, and the process-wide place the leader's status writer reads them from. A report is untrusted input:
// it is checked field by field, and an entry counts only while the object it names is in what the server sent that
// very stream (so a waypoint reports on the WaypointPlugins it was given, nothing else).

import type { ReportedCondition } from '@ambit/mesh-api';

/** Kinds a runtime may report on, with their API group (the key of the object in the pushed config). */
export const REPORTABLE_KINDS: Readonly<Record<string, { group: string; types: readonly string[] }>> = {
  WaypointPlugin: { group: 'extensions.ambit.dev', types: ['Active'] },
};

export const MAX_REPORTED_CONDITIONS = 512;
export const MAX_REPORTED_MESSAGE = 1024;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Kubernetes' condition reason: CamelCase, letters first. */
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]{0,62}[A-Za-z0-9_])?$/;
const STATUSES = new Set(['True', 'False', 'Unknown']);

export class ReportError extends Error {}

/** Checks one `status` payload; throws {@link ReportError} naming the first problem. Messages are cut, not refused. */
export function parseStatusReport(payload: unknown): ReportedCondition[] {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new ReportError('status must be an object');
  const list = (payload as { conditions?: unknown }).conditions;
  if (!Array.isArray(list)) throw new ReportError('status.conditions must be a list');
  if (list.length > MAX_REPORTED_CONDITIONS) throw new ReportError(`status.conditions has ${list.length} entries (at most ${MAX_REPORTED_CONDITIONS})`);
  const seen = new Set<string>();
  return list.map((raw, i) => {
    const at = `status.conditions[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ReportError(`${at} must be an object`);
    const c = raw as Record<string, unknown>;
    const kind = typeof c.kind === 'string' && Object.hasOwn(REPORTABLE_KINDS, c.kind) ? REPORTABLE_KINDS[c.kind]! : undefined;
    if (!kind) throw new ReportError(`${at}.kind is not a kind runtimes report on`);
    if (typeof c.namespace !== 'string' || !DNS_LABEL.test(c.namespace)) throw new ReportError(`${at}.namespace is not a namespace name`);
    if (typeof c.name !== 'string' || !DNS_SUBDOMAIN.test(c.name)) throw new ReportError(`${at}.name is not an object name`);
    if (typeof c.type !== 'string' || !kind.types.includes(c.type)) throw new ReportError(`${at}.type is not a condition type of ${String(c.kind)}`);
    if (typeof c.status !== 'string' || !STATUSES.has(c.status)) throw new ReportError(`${at}.status must be True, False or Unknown`);
    if (typeof c.reason !== 'string' || !REASON.test(c.reason)) throw new ReportError(`${at}.reason is not a condition reason`);
    if (typeof c.message !== 'string') throw new ReportError(`${at}.message must be a string`);
    const gen = c.observedGeneration;
    if (gen !== undefined && !(Number.isSafeInteger(gen) && (gen as number) >= 0)) throw new ReportError(`${at}.observedGeneration must be a non-negative integer`);
    const key = `${c.kind}/${c.namespace}/${c.name}/${c.type}`;
    if (seen.has(key)) throw new ReportError(`${at} repeats ${key}`);
    seen.add(key);
    return {
      kind: c.kind as string,
      namespace: c.namespace,
      name: c.name,
      ...(gen !== undefined ? { observedGeneration: gen as number } : {}),
      type: c.type,
      status: c.status as ReportedCondition['status'],
      reason: c.reason,
      message: cleanMessage(c.message),
    };
  });
}

/** Control characters out, at most MAX_REPORTED_MESSAGE characters. */
function cleanMessage(m: string): string {
  const s = m.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return s.length > MAX_REPORTED_MESSAGE ? `${s.slice(0, MAX_REPORTED_MESSAGE - 1)}…` : s;
}

/** The key of a reported object in a pushed config's `resources` collection (ztunnel-runtime's resourceKey). */
export function reportedResourceKey(c: Pick<ReportedCondition, 'kind' | 'namespace' | 'name'>): string {
  return `${c.kind}.${REPORTABLE_KINDS[c.kind]?.group ?? ''}/${c.namespace}/${c.name}`;
}

/** One stream's current report, as the status writer reads it. */
export interface WaypointStatusReport {
  /** `ns/name` of the waypoint Gateway. */
  waypoint: string;
  /** The stream (one per waypoint pod), for logs. */
  client: string;
  conditions: ReportedCondition[];
}

// ---- The view of every push server of the control plane, for the leader's status writer ----------------------

export interface ReportSource {
  statusReports(): WaypointStatusReport[];
  onStatus(listener: () => void): () => void;
}

/**
 * The reports of every push server registered with it (one per control plane, made by its composition root and
 * handed to the push component and to the status writer).
 */
export class WaypointStatusReports {
  readonly #sources = new Map<ReportSource, () => void>();
  readonly #listeners = new Set<() => void>();
  readonly #notify = (): void => {
    for (const l of this.#listeners) l();
  };

  /** Makes a push server's reports visible to {@link list}; returns the withdrawal. */
  register(source: ReportSource): () => void {
    if (!this.#sources.has(source)) {
      this.#sources.set(source, source.onStatus(this.#notify));
      this.#notify();
    }
    return () => {
      const off = this.#sources.get(source);
      if (!off) return;
      off();
      this.#sources.delete(source);
      this.#notify();
    };
  }

  /** Every current report of every registered push server. */
  list(): WaypointStatusReport[] {
    return [...this.#sources.keys()].flatMap((s) => s.statusReports());
  }

  /** Called whenever any report may have changed. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
