// Public surface of @ambit/controller.
export * from './kube/index.js';
export type { Component, ComponentContext, ComponentFactory } from './kube/component.js';
export * from './gateway/index.js';
export { runController, type ControllerOptions, type RunningController } from './main.js';
export { VERSION } from './install/version.js';
