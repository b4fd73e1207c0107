// Sets of open sockets (drain, shutdown) that a socket leaves when it closes, through one shared listener: a held
// connection costs a property, not a closure and a once() wrapper per set.
import type * as net from 'node:net';

const kSets = Symbol('ambit.socketSets');
type Member = net.Socket & { [kSets]?: Set<net.Socket> | Set<net.Socket>[] };

function leaveSets(this: Member): void {
  const sets = this[kSets];
  if (Array.isArray(sets)) for (const s of sets) s.delete(this);
  else sets?.delete(this);
}

/** Adds `socket` to `set` until it closes. */
export function holdUntilClose(set: Set<net.Socket>, socket: net.Socket): void {
  const m = socket as Member;
  const sets = m[kSets];
  if (!sets) {
    m[kSets] = set;
    m.on('close', leaveSets);
  } else if (Array.isArray(sets)) sets.push(set);
  else m[kSets] = [sets, set];
  set.add(socket);
}

/** An 'error' listener for sockets whose errors are handled elsewhere (shared, not one closure per socket). */
export function ignoreError(): void {}
