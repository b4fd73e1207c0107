// Plumbing every package needs and none should rewrite: back-off, Go durations, CIDR matching, the waypoint's Node options. Dependency-free
// (node: only), so a package that wants just these imports `@ambit/mesh-api/plumbing` without loading HBONE or
// node-forge; the package index re-exports them too.
export { Backoff, backoffDelay, type BackoffOptions } from './backoff.js';
export { parseGoDuration, tryParseGoDuration, DurationError, type DurationOptions } from './duration.js';
export { CidrSet, cidrContains, isValidCidr, parseCidr, normalizeIp, type Cidr, type IpFamily } from './cidr.js';
export { WAYPOINT_NODE_OPTIONS, ZTUNNEL_NODE_OPTIONS } from './node-options.js';
