// V8 heap settings for the waypoint process (main.ts applies them at start; the bench's proxy does the same).
//
// Allocation-site pretenuring off. Under steady load V8 saw per-request objects survive young-generation GCs
// (requests in flight during a scavenge) and started allocating them directly in old space. Dead old objects
// then keep the young objects they point to alive through every scavenge (the remembered set is a root), so
// almost the whole per-request graph (Fastify reply, undici handler and body, sockets' listeners) was copied and
// promoted: scavenges grew from ~0.5 ms to 15-40 ms every second or so, old space grew until a full GC, RSS
// reached ~300 MB. That was the periodic stall behind the waypoint's p99 (measured with --trace-gc and a heap
// sampling profile of objects that survived minor GCs; a bare Fastify proxy on undici 7 did not trip it).
// Without pretenuring, scavenges stay under ~1 ms and the heap after each one stays flat.

import { setFlagsFromString } from 'node:v8';

let applied = false;

/** Apply once per process, before serving traffic. Idempotent. */
export function tuneHeap(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--no-allocation-site-pretenuring');
}
