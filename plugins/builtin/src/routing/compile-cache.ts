// Route objects' compiled forms, kept by object from one table build to the next, so a delta that changes one
// route compiles that route alone (a delta replaces only the objects it names; the others keep their identity).
// What a compiled route also reads (Services, ReferenceGrants, DestinationRules, the domain) is the caller's
// `stamp`: a new stamp empties the cache. Objects are held weakly: a route gone from the config is dropped.

export class CompileCache<T> {
  #stamp = '';
  #compiled = new WeakMap<object, T | Error>();

  /** Keeps what was compiled under the same `stamp`, else starts empty. */
  at(stamp: string): this {
    if (stamp !== this.#stamp) {
      this.#stamp = stamp;
      this.#compiled = new WeakMap();
    }
    return this;
  }

  /** `compile(o)`, or the error it threw, computed once per object under one stamp. */
  get<O extends object>(o: O, compile: (o: O) => T): T | Error {
    if (this.#compiled.has(o)) return this.#compiled.get(o)!;
    const out = compileOrError(o, compile);
    this.#compiled.set(o, out);
    return out;
  }
}

/** `compile(o)`, or the error it threw (a route that cannot be compiled is left out alone, and logged). */
export function compileOrError<O, T>(o: O, compile: (o: O) => T): T | Error {
  try {
    return compile(o);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
