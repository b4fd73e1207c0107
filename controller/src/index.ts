// Public surface of @ambit/controller.
export * from './kube/index.js';
export type { Component } from './kube/component.js';
export * from './gateway/index.js';
export { createControlPlane, runController, type ControlPlane, type ControlPlaneDeps, type ControllerOptions, type RunningController } from './control-plane.js';
export { ConfigError, ENVIRONMENT, parseControllerConfig, parseDurationSeconds, type ControllerConfig } from './config.js';
export { VERSION } from './install/version.js';
