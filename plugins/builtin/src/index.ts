export * from './authz/authz.js';
export * from './authz/policy.js';
export * from './common/attach.js';
export * from './common/strings.js';
