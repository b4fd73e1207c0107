// Where the waypoint's configuration comes from: a snapshot of the mesh model (workloads, services) and the L7
// resources (AuthorizationPolicy, HTTPRoute, VirtualService, DestinationRule, WaypointPlugin, ...).
// FileConfigSource reads a local YAML file (and re-reads it on change); the controller's push client
// implements the same interface.

import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import type { K8sObject, ServiceView, TracingSettings, WorkloadView } from '@ambit/plugin-sdk';
import { validateConfig, type IngressListener, type StatusReport } from '@ambit/mesh-api';
import { parse } from 'yaml';
import type { WaypointBinding } from '../binding.js';

export interface WaypointSnapshot {
  mesh: { workloads?: WorkloadView[]; services?: ServiceView[] };
  resources: K8sObject[];
  /**
   * The Services and workloads bound to this waypoint: the only CONNECT destinations it accepts. Absent (a local
   * file without `binding`): every Service and workload of `mesh`.
   */
  binding?: WaypointBinding;
  /** Opaque version for logs. */
  version?: string;
  /**
   * Present when this process is an ingress gateway (`waypoint.role: ingress`): the listeners it serves. Absent:
   * a waypoint (HBONE only).
   */
  ingress?: { listeners: IngressListener[] };
  /** Span export (the controller's `WaypointConfig.tracing`); absent: tracing off. */
  tracing?: TracingSettings;
  /**
   * How this snapshot differs from version `delta.base` (a pushed delta), so a consumer holding that version can
   * apply it in place; any other consumer takes the snapshot whole. Absent: take it whole.
   */
  delta?: SnapshotDelta;
}

/** A pushed delta as the waypoint applies it. Keys are mesh-api's: workload uid, `ns/hostname`, `resourceKey`. */
export interface SnapshotDelta {
  base: string;
  upserts: { workloads?: WorkloadView[]; services?: ServiceView[]; resources?: K8sObject[] };
  removals: { workloads?: string[]; services?: string[]; resources?: string[] };
  /** Whether the binding (the pushed `waypoint`) changed. */
  binding: boolean;
  /** Whether the span-export settings changed. */
  tracing: boolean;
}

export interface ConfigSource {
  /** Register for snapshots; the current one (if any) is delivered right away. Returns an unsubscribe. */
  onUpdate(listener: (snapshot: WaypointSnapshot) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Where the waypoint's status report on the objects it was given goes (the controller's stream), if anywhere. */
  reportStatus?(report: StatusReport): void;
}

/** The identity and listeners section of the local file. */
export interface WaypointFileSettings {
  waypoint?: { name?: string; namespace?: string; serviceAccount?: string; trustDomain?: string; rootNamespace?: string };
  listeners?: { hbone?: number; http?: number; readiness?: number; metrics?: number; host?: string };
  tls?: { certFile?: string; keyFile?: string; caFile?: string };
}

export interface WaypointFile extends WaypointFileSettings {
  mesh?: { workloads?: WorkloadView[]; services?: ServiceView[] };
  resources?: K8sObject[];
  /** `services: [ns/hostname]`, `workloads: [uid]` bound to this waypoint; absent: all of `mesh`. */
  binding?: { services?: string[]; workloads?: string[] };
  /** An ingress gateway's listeners (`WaypointInfo.listeners` as the controller sends them). */
  ingress?: { listeners?: IngressListener[] };
  /** Span export, as the controller sends it (`WaypointConfig.tracing`). */
  tracing?: TracingSettings;
}

export function parseWaypointFile(text: string): WaypointFile {
  const doc = parse(text) as WaypointFile | null;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('config file: expected a YAML mapping');
  for (const key of Object.keys(doc)) {
    if (!['waypoint', 'listeners', 'tls', 'mesh', 'resources', 'binding', 'ingress', 'tracing'].includes(key)) throw new Error(`config file: unknown key ${JSON.stringify(key)}`);
  }
  if (doc.resources !== undefined && !Array.isArray(doc.resources)) throw new Error('config file: resources must be a list of Kubernetes objects');
  const b = doc.binding;
  if (b !== undefined && (b === null || typeof b !== 'object' || Array.isArray(b) || [b.services, b.workloads].some((l) => l !== undefined && (!Array.isArray(l) || l.some((x) => typeof x !== 'string'))))) {
    throw new Error('config file: binding must be {services: [ns/hostname, ...], workloads: [uid, ...]}');
  }
  if (doc.tracing !== undefined) {
    try {
      validateConfig('waypoint', { tracing: doc.tracing }, true);
    } catch (err) {
      throw new Error(`config file: ${(err as Error).message}`);
    }
  }
  for (const [i, o] of (doc.resources ?? []).entries()) {
    if (!o?.kind || !o.apiVersion || !o.metadata?.name) throw new Error(`config file: resources[${i}] needs apiVersion, kind and metadata.name`);
  }
  return doc;
}

export function snapshotOf(file: WaypointFile, version?: string): WaypointSnapshot {
  const binding = file.binding ? { services: file.binding.services ?? [], workloads: file.binding.workloads ?? [] } : undefined;
  const ingress = file.ingress ? { listeners: file.ingress.listeners ?? [] } : undefined;
  return { mesh: { workloads: file.mesh?.workloads ?? [], services: file.mesh?.services ?? [] }, resources: file.resources ?? [], binding, version, ingress, ...(file.tracing ? { tracing: file.tracing } : {}) };
}

/** A fixed snapshot (tests, benchmarks); `set` pushes a new one. */
export class StaticConfigSource implements ConfigSource {
  #current?: WaypointSnapshot;
  readonly #listeners = new Set<(s: WaypointSnapshot) => void>();
  constructor(initial?: WaypointSnapshot) {
    this.#current = initial;
  }
  set(snapshot: WaypointSnapshot): void {
    this.#current = snapshot;
    for (const l of this.#listeners) l(snapshot);
  }
  onUpdate(listener: (s: WaypointSnapshot) => void): () => void {
    this.#listeners.add(listener);
    if (this.#current) listener(this.#current);
    return () => this.#listeners.delete(listener);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** Reads the file at start and whenever it changes; a file that fails to parse is reported and skipped. */
export class FileConfigSource extends StaticConfigSource {
  #watcher?: FSWatcher;
  #timer?: NodeJS.Timeout;
  #n = 0;
  constructor(private readonly path: string, private readonly onError: (err: Error) => void = () => {}) {
    super();
  }
  async load(): Promise<WaypointFile> {
    return parseWaypointFile(await readFile(this.path, 'utf8'));
  }
  override async start(): Promise<void> {
    this.set(snapshotOf(await this.load(), `file-${++this.#n}`));
    try {
      this.#watcher = watch(this.path, () => {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          this.load().then(
            (f) => this.set(snapshotOf(f, `file-${++this.#n}`)),
            (err: Error) => this.onError(err),
          );
        }, 50);
      });
    } catch (err) {
      this.onError(err as Error);
    }
  }
  override async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }
}
