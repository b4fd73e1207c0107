// Config application: a snapshot from the config source becomes the mesh model and the resource set plugins
// read, and the set of destinations bound to this waypoint (the only ones it admits). The waypoint is
// configured (may turn ready) once the first snapshot is in. Span-export settings go to the plugins' TRACING. `onApplied` runs after each snapshot: the waypoint
// compiles its route table there, once per config change, instead of on the first request after it.

import type { DestinationInfo, InMemoryMeshState, InMemoryResources, InMemoryTracing, Logger } from '@ambit/plugin-sdk';
import { BoundDestinations, type Admission } from './binding.js';
import type { WaypointSnapshot } from './config/source.js';

export class ConfigState {
  readonly #mesh: InMemoryMeshState;
  readonly #resources: InMemoryResources;
  readonly #logger: Logger;
  readonly #onApplied?: () => void;
  readonly #tracing?: InMemoryTracing;
  #bound: BoundDestinations;
  #configured = false;

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
    this.#mesh.replace(snapshot.mesh);
    this.#resources.replace(snapshot.resources);
    this.#tracing?.replace(snapshot.tracing);
    this.#bound = new BoundDestinations(this.#mesh, snapshot.binding);
    this.#configured = true;
    this.#logger.info('config applied', {
      version: snapshot.version,
      services: snapshot.mesh.services?.length ?? 0,
      workloads: snapshot.mesh.workloads?.length ?? 0,
      resources: snapshot.resources.length,
    });
    this.#onApplied?.();
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
