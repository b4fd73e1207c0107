// @ambit/plugins: the built-in waypoint plugins.
export * from './authz/authz.js';
export * from './authz/policy.js';
export * from './common/attach.js';
export * from './common/strings.js';
export * from './routing/routing.js';
export * from './routing/httproute.js';
export * from './routing/grpcroute.js';
export * from './routing/virtualservice.js';
export * from './routing/lb.js';
export * from './routing/types.js';
export * from './routing/weights.js';
export * from './telemetry/telemetry.js';
export * from './filters/loader.js';
export * from './filters/manager.js';
export * from './filters/policy.js';
export { SandboxedPlugin, PluginBlockedError, type SandboxOptions } from './filters/sandbox/host.js';
export * from './filters/wasm.js';
export { IsolatedWasmFilter, type IsolatedWasmOptions } from './filters/wasm-isolate.js';
