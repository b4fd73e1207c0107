// The config stream between the controller and the runtimes (Istio's delta xDS, re-shaped as NDJSON over an
// HTTP/2 stream on :15012), and what a waypoint receives (Istio sends a waypoint its listeners/routes/clusters;
// Ambit sends the raw Kubernetes objects bound to it plus the mesh model, and the plugins interpret them).

import type { GatewayAddress, MeshConfig, Service, Workload } from '../model/types.js';

/** A Kubernetes object as the API server returns it (only what the runtimes read). */
export interface KubeObject<Spec = unknown> {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Spec;
}

/** Which traffic a waypoint takes (`istio.io/waypoint-for`). */
export type WaypointTrafficType = 'service' | 'workload' | 'all' | 'none';

/** A waypoint as the controller sees it: the Gateway, its address and what is bound to it. */
export interface WaypointInfo {
  /** The Gateway's name and namespace. */
  name: string;
  namespace: string;
  gatewayClassName: string;
  trafficType: WaypointTrafficType;
  /** The 2022/2024 dialect (`istio.io/service-account` / `istio.io/for-service-account`): the one SA it serves. */
  forServiceAccount?: string;
  /** Where ztunnels send traffic for it; absent until the Gateway has `status.addresses`. */
  address?: GatewayAddress;
  /** `ns/hostname` of the Services bound to it. */
  services: string[];
  /** uids of the workloads bound to it. */
  workloads: string[];
  /**
   * `ingress` for a gateway that takes traffic from outside the mesh (GatewayClass `istio`, or the Istio API's
   * `istio-ingressgateway` installed by `ambit install`); absent for a waypoint.
   */
  role?: 'ingress';
  /** An ingress gateway's listeners, resolved by the controller from whichever API configured it. */
  listeners?: IngressListener[];
}

/** The Gateway object an ingress listener comes from. */
export interface IngressParent {
  /** `gateway.networking.k8s.io` (GatewayClass `istio`) or `networking.istio.io` (an Istio `Gateway`'s server). */
  group: 'gateway.networking.k8s.io' | 'networking.istio.io';
  namespace: string;
  name: string;
}

/** A PEM certificate chain (leaf first) and its PEM private key: sent only to the gateway that serves it; never logged. */
export interface TlsCertificate {
  certChain: string;
  privateKey: string;
}

/**
 * One port an ingress gateway serves, as the controller resolved it: a Gateway API listener, or an Istio Gateway
 * server. Several listeners may share a `targetPort` (different hostnames, or several Istio Gateways selecting the
 * same pods): the gateway opens one socket per `targetPort` and picks the listener by SNI, then by `Host`.
 */
export interface IngressListener {
  /** Unique within the gateway: the Gateway API listener name, or `<ns>/<gateway>/<server index>` (Istio API). */
  name: string;
  parent: IngressParent;
  /** The port clients address (the Service port; what a route's `parentRefs[].port` names). */
  port: number;
  /** The port the gateway's pod listens on (Istio API: the Service's targetPort, e.g. 80 -> 8080). */
  targetPort: number;
  protocol: 'HTTP' | 'HTTPS' | 'TLS';
  /** Hostnames this listener serves (exact or `*.example.com`); absent or empty: any. */
  hostnames?: string[];
  /** HTTPS and TLS: terminate with these certificates (chosen by SNI), or pass the stream through by SNI. */
  tls?: { mode: 'Terminate' | 'Passthrough'; certificates: TlsCertificate[] };
  /**
   * `resourceKey`s of the route objects (HTTPRoute, GRPCRoute, TLSRoute, VirtualService) the controller accepted on
   * this listener; the objects themselves are in `WaypointConfig.resources`.
   */
  routes: string[];
}

/** A workload as a waypoint sees it: the model's workload plus the pod's labels (DestinationRule subsets). */
export interface WaypointWorkload extends Workload {
  labels?: Record<string, string>;
}

/** A Service as a waypoint sees it: the model's service plus the Kubernetes Service's labels. */
export interface WaypointService extends Service {
  labels?: Record<string, string>;
}

/**
 * Everything one waypoint (or ingress gateway: `waypoint.role`) runs on. `resources` holds the Kubernetes objects bound to it, unmodified:
 * AuthorizationPolicies whose targetRef(s) name this waypoint's Gateway (or its GatewayClass, from the root
 * namespace) or a Service bound to it; HTTPRoutes (and GRPCRoutes) whose parentRefs name the Gateway or a bound
 * Service; VirtualServices and DestinationRules whose hosts are bound Services; WaypointPlugins that target it.
 */
export interface WaypointConfig {
  waypoint: WaypointInfo;
  /** The whole mesh, for routing to endpoints (HBONE to the destination's ztunnel, or plain TCP). */
  workloads: WaypointWorkload[];
  services: WaypointService[];
  resources: KubeObject[];
  /**
   * Span export, resolved by the controller from Istio's config: the mesh config's `extensionProviders` entry of
   * kind `opentelemetry` that the Telemetry resources (root namespace, the waypoint's namespace, a targetRef to its
   * Gateway) choose. Absent: tracing is off (trace headers pass through unchanged; no span is made).
   */
  tracing?: TracingConfig;
}

/** What a waypoint needs to export one server span per request over OTLP/HTTP. */
export interface TracingConfig {
  /** The extensionProvider's name (for logs). */
  provider: string;
  /** OTLP/HTTP traces endpoint: `http://<service>:<port><http.path>`. */
  endpoint: string;
  /** 0-100: the share of requests without a prior sampling decision that start a sampled trace. */
  randomSamplingPercentage: number;
  /** The provider's `http.timeout`, in milliseconds. */
  timeoutMs?: number;
  /** The provider's `http.headers` with literal values (sent with every export; never logged). */
  headers?: Record<string, string>;
  /** Telemetry `disableSpanReporting`: trace context is still continued, no span is sent. */
  disableSpanReporting?: boolean;
}

export type ClientKind = 'ztunnel' | 'waypoint';

/** The key of a `resources` item (the model's, with the other collections' keys). */
export { resourceKey } from '../model/types.js';

/**
 * One message of the push stream (one NDJSON line from the server). `full` replaces the client's config;
 * otherwise `upserts` (keyed collections: items added or replaced; other fields: replaced) and `removals`
 * (keys) apply to the config at version `base`. A client whose version is not `base` NACKs and gets a full.
 */
export interface PushMessage<C = MeshConfig | WaypointConfig> {
  version: string;
  nonce: string;
  base?: string;
  full?: C;
  upserts?: Partial<C>;
  removals?: Record<string, string[]>;
}

/**
 * A condition a runtime reports about an object the controller sent it; the controller writes it (aggregated over
 * every runtime that holds the object) as the object's status. Waypoints report WaypointPlugin `Active`.
 */
export interface ReportedCondition {
  kind: string;
  namespace: string;
  name: string;
  /** `metadata.generation` of the object as the runtime acted on it. */
  observedGeneration?: number;
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** A runtime's whole current report: it replaces the previous one of the same stream (an empty list clears it). */
export interface StatusReport {
  conditions: ReportedCondition[];
}

/** One NDJSON line from the client: an acknowledgement, a rejection, or a status report. */
export type PushReply = { ack: string } | { nack: string; error: string } | { status: StatusReport };

/** Request headers of `POST /v1/stream`. */
export const STREAM_PATH = '/v1/stream';
export const HEADER_KIND = 'x-ambit-kind';
export const HEADER_NODE = 'x-ambit-node';
/** `ns/name` of the waypoint Gateway a waypoint client asks for. */
export const HEADER_WAYPOINT = 'x-ambit-waypoint';
/** The version the client holds (informational: a reconnecting client always gets a full). */
export const HEADER_VERSION = 'x-ambit-version';

/** The CA's API: `POST /v1/certificates`. */
export const CERTIFICATES_PATH = '/v1/certificates';

export interface CertificateRequest {
  /** PEM PKCS#10 request carrying one URI SAN, the SPIFFE identity. */
  csr: string;
  validitySeconds?: number;
  /** `spiffe://td/ns/<ns>/sa/<sa>`: ask for another identity (trusted node accounts only). */
  impersonatedIdentity?: string;
}

export interface CertificateResponse {
  /** PEM certificates, leaf first, ending with the root. */
  certChain: string[];
  /** PEM roots the caller should trust. */
  roots: string[];
}

export type { GatewayAddress, MeshConfig, Service, Workload };
