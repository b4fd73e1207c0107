// Plumbing every package needs and none should rewrite: back-off (more to come). Dependency-free
// (node: only), so a package that wants just these imports `@ambit/mesh-api/plumbing` without loading HBONE or
// node-forge; the package index re-exports them too.
export { Backoff, backoffDelay, type BackoffOptions } from './backoff.js';
