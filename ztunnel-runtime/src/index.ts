export * from './state/types.js';
