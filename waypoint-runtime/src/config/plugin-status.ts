// What the waypoint tells the controller about its WaypointPlugins (the controller writes it as the CRD's status):
// the latest `Active` condition of every WaypointPlugin the waypoint holds now, as one whole report. A change of
// status, reason, generation or of the set of plugins goes out on the next turn of the event loop (a burst of
// changes is one report); a change of the message alone (a Degraded plugin's failure count) at most every
// `messageRefreshMs`, so a failing hook on every request does not turn into a status write per request.

import type { ResourceRef, StatusCondition } from '@ambit/plugin-sdk';
import type { ReportedCondition, StatusReport } from '@ambit/mesh-api';

export const PLUGIN_STATUS_KIND = 'WaypointPlugin';
/** What the controller accepts (longer messages are cut, a longer report is refused whole). */
export const MAX_REPORT_MESSAGE = 1024;
export const MAX_REPORT_CONDITIONS = 512;

export interface PluginStatusPublisherOptions {
  /** Where reports go (the push stream's client). */
  send(report: StatusReport): void;
  /** Longest a message-only change waits (default 10 s). */
  messageRefreshMs?: number;
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

/** Same objects, statuses, reasons and generations (messages may differ). */
function sameButMessages(a: ReportedCondition[], b: ReportedCondition[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    return x.namespace === y.namespace && x.name === y.name && x.type === y.type && x.status === y.status && x.reason === y.reason && x.observedGeneration === y.observedGeneration;
  });
}

export class PluginStatusPublisher {
  readonly #opts: PluginStatusPublisherOptions;
  /** `ns/name` -> the latest Active condition. */
  readonly #conditions = new Map<string, ReportedCondition>();
  /** `ns/name` of the WaypointPlugins the waypoint holds now. */
  #present = new Set<string>();
  #sent: ReportedCondition[] = [];
  #soon: NodeJS.Immediate | undefined;
  #later: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: PluginStatusPublisherOptions) {
    this.#opts = opts;
  }

  /** A condition from the plugin manager (other kinds and types are not reported). */
  report(ref: ResourceRef, c: StatusCondition): void {
    if (ref.kind !== PLUGIN_STATUS_KIND || c.type !== 'Active') return;
    this.#conditions.set(keyOf(ref.namespace, ref.name), {
      kind: PLUGIN_STATUS_KIND,
      namespace: ref.namespace,
      name: ref.name,
      ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message.length > MAX_REPORT_MESSAGE ? `${c.message.slice(0, MAX_REPORT_MESSAGE - 1)}…` : c.message,
    });
    this.#schedule();
  }

  /** The WaypointPlugins the waypoint holds now; conditions of the others are dropped. */
  setPresent(plugins: Array<{ namespace?: string; name: string }>): void {
    this.#present = new Set(plugins.map((p) => keyOf(p.namespace ?? 'default', p.name)));
    for (const k of this.#conditions.keys()) if (!this.#present.has(k)) this.#conditions.delete(k);
    this.#schedule();
  }

  /** The report as it stands (sorted by namespace/name; the first MAX_REPORT_CONDITIONS). */
  current(): ReportedCondition[] {
    return [...this.#conditions.entries()]
      .filter(([k]) => this.#present.has(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, MAX_REPORT_CONDITIONS)
      .map(([, c]) => c);
  }

  close(): void {
    this.#closed = true;
    if (this.#soon) clearImmediate(this.#soon);
    clearTimeout(this.#later);
  }

  #schedule(): void {
    if (this.#closed || this.#soon) return;
    this.#soon = setImmediate(() => {
      this.#soon = undefined;
      const next = this.current();
      if (JSON.stringify(next) === JSON.stringify(this.#sent)) return;
      if (!sameButMessages(next, this.#sent)) return this.#flush();
      // Only messages changed: send within messageRefreshMs.
      if (!this.#later) {
        this.#later = setTimeout(() => this.#flush(), this.#opts.messageRefreshMs ?? 10_000);
        this.#later.unref();
      }
    });
  }

  #flush(): void {
    clearTimeout(this.#later);
    this.#later = undefined;
    if (this.#closed) return;
    const next = this.current();
    if (JSON.stringify(next) === JSON.stringify(this.#sent)) return;
    this.#sent = next;
    this.#opts.send({ conditions: next });
  }
}
