export * from './waypoint.js';
export * from './peer.js';
export * from './config/source.js';
export * from './server/app.js';
export * from './upstream/connector.js';
export * from './upstream/errors.js';
export * from './upstream/forward.js';
