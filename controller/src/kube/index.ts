export * from './client.js';
export * from './informer.js';
export * from './informers.js';
export * from './kubeconfig.js';
export * from './leader.js';
export * from './log.js';
export * from './metrics.js';
export * from './monitoring.js';

export * from './resources.js';
export * from './status.js';
export * from './workqueue.js';
