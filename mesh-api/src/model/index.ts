// @ambit/mesh-api/model: the mesh model's types and its one indexed store, without the rest of mesh-api (no
// node-forge, no HBONE), so the plugin SDK can hold the same store the ztunnel holds.
export * from './types.js';
export { splitNetworkAddress } from './address.js';
export { MeshStore, loadBalanced, type MeshChange, type MeshDelta, type MeshRemovals, type ServiceEndpoint } from './store.js';
