// Config application: a snapshot from the config source becomes the mesh model and the resource set plugins
// read, and the set of destinations bound to this waypoint (the only ones it admits). The waypoint is
// configured (may turn ready) once the first snapshot is in. Span-export settings go to the plugins' TRACING. A
// snapshot that carries a delta from the version applied last is applied in place (the mesh store's delta, the
// resources of the kinds it touches; binding and tracing only when they changed); any other replaces everything.
// `onApplied` runs after each snapshot: the waypoint has every plugin prepare the new config there (`onConfig`: the
// route table, the authorization policies), once per config change, instead of on the first request after it.

import type { DestinationInfo, InMemoryMeshState, InMemoryResources, InMemoryTracing, Logger } from '@ambit/plugin-sdk';
import { BoundDestinations, type Admission } from './binding.js';
import type { SnapshotDelta, WaypointSnapshot } from './config/source.js';

export class ConfigState {
  readonly #mesh: InMemoryMeshState;
  readonly #resources: InMemoryResources;
  readonly #logger: Logger;
  readonly #onApplied?: () => void;
  readonly #tracing?: InMemoryTracing;
  #bound: BoundDestinations;
  #configured = false;
  /** The version applied last; undefined until then, and while (or after) an apply fails part-way. */
  #version?: string;

  constructor(mesh: InMemoryMeshState, resources: InMemoryResources, logger: Logger, onApplied?: () => void, tracing?: InMemoryTracing) {
    this.#mesh = mesh;
    this.#tracing = tracing;
    this.#onApplied = onApplied;
    this.#resources = resources;
    this.#logger = logger;
    this.#bound = new BoundDestinations(mesh, { services: [], workloads: [] });
  }

  /** Whether a snapshot has been applied. */
  get configured(): boolean {
    return this.#configured;
  }

  apply(snapshot: WaypointSnapshot): void {
    const d = snapshot.delta;
    const inPlace = d !== undefined && this.#version !== undefined && d.base === this.#version;
    this.#version = undefined;
    if (inPlace) this.#applyDelta(d);
    else {
      this.#mesh.replace(snapshot.mesh);
      this.#resources.replace(snapshot.resources);
    }
    if (!inPlace || d.tracing) this.#tracing?.replace(snapshot.tracing);
    if (!inPlace || d.binding) this.#bound = new BoundDestinations(this.#mesh, snapshot.binding);
    this.#configured = true;
    this.#version = snapshot.version;
    this.#logger.info('config applied', {
      version: snapshot.version,
      services: snapshot.mesh.services?.length ?? 0,
      workloads: snapshot.mesh.workloads?.length ?? 0,
      resources: snapshot.resources.length,
      delta: inPlace,
    });
    this.#onApplied?.();
  }

  #applyDelta({ upserts, removals }: SnapshotDelta): void {
    const some = (...lists: Array<unknown[] | undefined>) => lists.some((l) => l !== undefined && l.length > 0);
    // Untouched parts keep their versions, so what is cached on them (the route table) stays.
    if (some(upserts.workloads, upserts.services, removals.workloads, removals.services)) this.#mesh.applyDelta(upserts, removals);
    if (some(upserts.resources, removals.resources)) this.#resources.apply(upserts.resources ?? [], removals.resources);
  }

  /** A tunnel's CONNECT authority: admitted when bound to this waypoint (see ./binding). */
  admit(authority: string): Admission {
    return this.#bound.admit(authority);
  }

  /** A plain-listener request's resolved destination, held to the same rule. */
  admitResolved(dest: DestinationInfo): Admission {
    return this.#bound.admitResolved(dest);
  }
}
