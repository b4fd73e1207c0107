// @ambit/plugin-sdk: the contract Ambit waypoint plugins are written against. See README.md.
import 'reflect-metadata';

export { inject, injectable, singleton, scoped, Lifecycle, container } from 'tsyringe';
export type { DependencyContainer, InjectionToken } from 'tsyringe';
export * from './phase.js';
export * from './context.js';
export * from './plugin.js';
export * from './tokens.js';
export * from './logger.js';
export * from './metrics.js';
export * from './mesh.js';
export * from './resources.js';
export * from './destination.js';
export * from './chain.js';
export * from './tracing.js';
