// The mesh model: a pure builder (objects in -> model out) and a watcher that keeps it current.
//
//   const mesh = new MeshComponent({ client, onModel: (m) => push.update(m) });
//   await mesh.start();

import { MeshWatcher, type MeshWatcherOptions } from './watch.js';

export class MeshComponent extends MeshWatcher {
  constructor(opts: MeshWatcherOptions) {
    super(opts);
  }
}

export { MeshWatcher };
export type { MeshWatcherOptions };
export { buildMesh } from './build.js';
export { waypointAddress } from './waypoint-binding.js';
export type { MeshModel, ModelWarning, WaypointIdentity } from './model.js';
export type { MeshInput, MeshOptions, Pod } from './input.js';
export { waypointResources, resolveHost, targetsWaypoint, routeAttaches } from './resources.js';
export { staticStrictPolicy, STATIC_STRICT_NAME } from './policies.js';
export { convertAuthorizationPolicy } from './authorization.js';
export type { AuthorizationPolicy, AuthorizationPolicySpec, AuthorizationRule, ConversionResult, ConversionWarning } from './authorization.js';

export { buildIngressIstio, secretCertificate, virtualServiceGateways, INGRESS_NAME, INGRESS_SERVICE_ACCOUNT } from './ingress-istio.js';
export type { IngressInput, IngressResult, IngressWarning } from './ingress-istio.js';
export { buildIngressGatewayConfigs, isIngressGateway } from './ingress-gateway-api.js';
