export * from './binding.js';
export * from './constants.js';
export * from './controller.js';
export * from './plan.js';
export * from './render.js';
export * from './status.js';
export type * from './types.js';
