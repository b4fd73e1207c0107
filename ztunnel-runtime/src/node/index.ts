// Shared (in-pod) mode: ztunnel as the node proxy of every enrolled pod on its node (see node-proxy.ts).
export { parseSharedConfig, describeConfig, controlPlaneUrl, type SharedModeConfig } from './config.js';
export { NodeProxy, type NodeProxyOptions, type MeshConfigSource } from './node-proxy.js';
export { PodProxy, podWorkloadUid, type PodProxyOptions } from './pod-proxy.js';
