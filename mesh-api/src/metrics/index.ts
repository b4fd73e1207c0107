// `@ambit/mesh-api/metrics`: the one Prometheus registry, importable alone (no HBONE, no node-forge).
export * from './registry.js';
