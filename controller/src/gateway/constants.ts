// Istio's names for waypoint Gateways: classes, controller, labels, annotations, ports, messages.
import type { GatewayClass } from './types.js';

export const MESH_CONTROLLER = 'istio.io/mesh-controller';
/** The class the mission names (Istio's first ambient release, 2022). */
export const CLASS_MESH = 'istio-mesh';
/** Istio's current waypoint class. */
export const CLASS_WAYPOINT = 'istio-waypoint';
export const WAYPOINT_CLASSES = [CLASS_MESH, CLASS_WAYPOINT] as const;
/** Istio's ingress class (`PILOT_GATEWAY_API_DEFAULT_GATEWAYCLASS_NAME`) and its controller. */
export const CLASS_ISTIO = 'istio';
export const GATEWAY_CONTROLLER = 'istio.io/gateway-controller';
export const CLASS_DESCRIPTION: Record<string, string> = {
  [CLASS_WAYPOINT]: 'The default Istio waypoint GatewayClass',
  [CLASS_MESH]: 'The Istio waypoint GatewayClass of the first ambient release',
  [CLASS_ISTIO]: 'The default Istio GatewayClass',
};
/** Every class this controller creates, with its controller. */
export const BUILTIN_CLASSES: Record<string, string> = { [CLASS_MESH]: MESH_CONTROLLER, [CLASS_WAYPOINT]: MESH_CONTROLLER, [CLASS_ISTIO]: GATEWAY_CONTROLLER };

/** The controller a Gateway of class `className` belongs to: its GatewayClass's, else the built-in class's. */
export function controllerFor(className: string, cls: GatewayClass | undefined): string | undefined {
  return cls?.spec?.controllerName ?? BUILTIN_CLASSES[className];
}

/** Field manager for the objects rendered for a Gateway (Istio's features.ManagedGatewayController). */
export const FIELD_MANAGER = 'istio.io/gateway-controller';
/** `gateway.istio.io/managed` value: the controller name with "/" replaced by "-". */
export const MANAGED_VALUE = MESH_CONTROLLER.replace(/\//g, '-');
/** The same label on the objects rendered for a class `istio` Gateway. */
export const INGRESS_MANAGED_VALUE = GATEWAY_CONTROLLER.replace(/\//g, '-');
/** Either controller's objects (an informer's label selector). */
export const ANY_MANAGED_SELECTOR = `gateway.istio.io/managed in (${MANAGED_VALUE},${INGRESS_MANAGED_VALUE})`;
export const CONTROLLER_VERSION = 5;

export const L = {
  managed: 'gateway.istio.io/managed',
  gatewayName: 'gateway.networking.k8s.io/gateway-name',
  gatewayClassName: 'gateway.networking.k8s.io/gateway-class-name',
  dataplaneMode: 'istio.io/dataplane-mode',
  sidecarInject: 'sidecar.istio.io/inject',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  waypointFor: 'istio.io/waypoint-for',
  useWaypoint: 'istio.io/use-waypoint',
  useWaypointNamespace: 'istio.io/use-waypoint-namespace',
  rev: 'istio.io/rev',
  network: 'topology.istio.io/network',
} as const;

export const A = {
  controllerVersion: 'gateway.istio.io/controller-version',
  nameOverride: 'gateway.istio.io/name-override',
  serviceAccount: 'gateway.istio.io/service-account',
  serviceType: 'networking.istio.io/service-type',
  /** Namespaces (`a,b` or `*`) besides the waypoint's own whose WaypointPlugins it runs: its owner's consent. */
  pluginNamespaces: 'plugins.ambit.dev/allowed-namespaces',
  lastApplied: 'kubectl.kubernetes.io/last-applied-configuration',
  /** 2022 dialect: the waypoint serves only this service account's workloads. */
  legacyServiceAccount: 'istio.io/service-account',
  /** 1.18-1.21 dialect of the same. */
  forServiceAccount: 'istio.io/for-service-account',
  trafficDistribution: 'networking.istio.io/traffic-distribution',
} as const;

export const PORT_HBONE = 15008;
export const PORT_METRICS = 15020;
export const PORT_STATUS = 15021;
export const PROTOCOL_HBONE = 'HBONE';

export const TRAFFIC_TYPES = ['all', 'none', 'service', 'workload'] as const;
export type TrafficType = (typeof TRAFFIC_TYPES)[number];

export const MSG = {
  classAccepted: 'Handled by Istio controller',
  accepted: 'Resource accepted',
  resolvedRefs: 'All references resolved',
  noErrors: 'No errors found',
  invalidListener: 'Expected a single listener on port 15008 with protocol "HBONE"',
} as const;

/** Condition type on Services bound to a waypoint. */
export const WAYPOINT_BOUND = 'istio.io/WaypointBound';
