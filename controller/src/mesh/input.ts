// What the mesh model is built from: plain Kubernetes objects as the informers hold them.

import type { KubeObject } from '../kube/resources.js';
import type { EndpointSlice, Gateway, GatewayClass, Namespace, Service } from '../gateway/types.js';
import type { AuthorizationPolicy } from './authorization.js';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Pod extends KubeObject {
  spec?: {
    serviceAccountName?: string;
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: Array<{ name: string; ports?: ContainerPort[] }>;
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    conditions?: Array<{ type: string; status: string }>;
  };
}

export interface MeshInput {
  pods: Pod[];
  services: Service[];
  /** Used for Services without a selector (endpoints whose targetRef is a Pod). */
  endpointSlices?: EndpointSlice[];
  namespaces: Namespace[];
  gateways: Gateway[];
  gatewayClasses: GatewayClass[];
  authorizationPolicies?: AuthorizationPolicy[];
  peerAuthentications?: KubeObject[];
  httpRoutes?: KubeObject[];
  grpcRoutes?: KubeObject[];
  /** Gateway API TLSRoutes: TLS passthrough routes of class `istio` Gateways' TLS listeners. */
  tlsRoutes?: KubeObject[];
  virtualServices?: KubeObject[];
  destinationRules?: KubeObject[];
  waypointPlugins?: KubeObject[];
  /** Gateway API ReferenceGrants: which cross-namespace backendRefs of waypoint-Gateway routes are allowed. */
  referenceGrants?: KubeObject[];
  /** `kubernetes.io/tls` Secrets: the certificates of class `istio` Gateways' HTTPS listeners. */
  secrets?: KubeObject[];
  /** ConfigMap `ambit-plugin-policy` of the root namespace: the WaypointPlugin allow-list every waypoint gets. */
  pluginPolicies?: KubeObject[];
  /** networking.istio.io Gateways (v1, v1beta1, v1alpha3): the servers of the installed ingress gateway. */
  istioGateways?: KubeObject[];
  /** ConfigMap `istio` of the root namespace: Istio's mesh config (key `mesh`: extensionProviders, defaultProviders). */
  meshConfigs?: KubeObject[];
  /** telemetry.istio.io Telemetries: which extensionProvider traces, and how much is sampled. */
  telemetries?: KubeObject[];
  /** Secrets of the system namespace, of any type: the installed ingress gateway's TLS credentials (`credentialName`). */
  systemSecrets?: KubeObject[];
}

export interface MeshOptions {
  /** Istio's cluster id, the first part of workload uids (default `Kubernetes`). */
  clusterId?: string;
  trustDomain?: string;
  /** Cluster DNS domain (default `cluster.local`). */
  domainSuffix?: string;
  /** Istio's root namespace: mesh-wide policies (default `istio-system`). */
  rootNamespace?: string;
  /** AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY. */
  enableDryRun?: boolean;
}

export type { EndpointSlice, Gateway, GatewayClass, Namespace, Service };
