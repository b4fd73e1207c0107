// The Node options the waypoint process runs with, in one place: the controller renders them into the waypoint
// Deployment's NODE_OPTIONS and the waypoint bench starts its proxies with them, so the bench measures what runs.
//
// --max-semi-space-size=8 (MB): caps V8's young generation. Left to itself, V8 sizes semi-spaces from the heap
// limit (a fraction of the machine's memory) and under load grows them to 64 MB each: new space alone was 128 MB
// of a ~300 MB RSS while the live heap after a full GC was 24 MB (no retained objects: a heap snapshot after load
// held 27 MB, mostly code and source strings), and V8 keeps pages it freed pooled and resident. Capped at 8 MB,
// new space is 16 MB and RSS after the bench's load fell from 270-307 MB to 190-199 MB (same run, shared machine).
export const WAYPOINT_NODE_OPTIONS = '--max-semi-space-size=8';
