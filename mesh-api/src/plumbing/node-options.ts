// The Node options the mesh's proxies run with, in one place: the controller renders the waypoint's into its
// Deployment's NODE_OPTIONS, controller/manifests/ztunnel.yaml sets the ztunnel's (a unit test holds them equal),
// and both benches start their proxies with them, so the benches measure what runs.
//
// --max-semi-space-size=8 (MB): caps V8's young generation. Left to itself, V8 sizes semi-spaces from the heap
// limit (a fraction of the machine's memory) and under load grows them to 64 MB each: new space alone was 128 MB
// of a ~300 MB RSS while the live heap after a full GC was 24 MB (no retained objects: a heap snapshot after load
// held 27 MB, mostly code and source strings), and V8 keeps pages it freed pooled and resident. Capped at 8 MB,
// new space is 16 MB and RSS after the bench's load fell from 270-307 MB to 190-199 MB (same run, shared machine).
export const WAYPOINT_NODE_OPTIONS = '--max-semi-space-size=8';

// The ztunnel's, for the same reason: each held connection's set-up objects survive scavenges, so V8 kept growing
// new space (to ~100 MB with 10,000 held connections) and never shrank it. Istio's peer harness
// (../shared/peers/compare-ztunnel.py, Ambit only, 3 x 2 alternating, load 1.2-1.8), default -> 8 MB: RSS per held
// connection (10,000 held) source 12.6 / 14.8 / 12.2 -> 6.8 / 8.7 / 6.8 KB, destination 10.3 / 7.4 / 7.4 ->
// 7.0 / 3.5 / 3.0 KB; CPU per 1000 rps, latency and throughput level (source 0.121 -> 0.118 vCPU, p50 1.07 ms both).
// 1 MB saved more but cost 22-28% CPU per request.
export const ZTUNNEL_NODE_OPTIONS = '--max-semi-space-size=8';
