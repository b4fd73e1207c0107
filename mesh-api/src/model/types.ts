// The mesh model every runtime holds: what Istio's ztunnel receives as WDS/RBAC resources
// (istio.workload.Address, istio.security.Authorization), in the camelCase shape of its local config
// file. The controller produces it, the config stream carries it, the runtimes consume it.

/** `network/ip` for a service VIP, or an IP string for a workload address. */
export type NetworkAddress = string;

export type TunnelProtocol = 'TCP' | 'HBONE';
export type HealthStatus = 'Healthy' | 'Unhealthy';

/** Where a waypoint is reached: a workload/service IP (`network/ip`) or a service hostname (`ns/hostname`). */
export interface GatewayAddress {
  destination: string;
  hboneMtlsPort: number;
}

export interface Workload {
  /** `<cluster>//Pod/<ns>/<name>` for pods. */
  uid: string;
  name: string;
  namespace: string;
  trustDomain?: string;
  serviceAccount: string;
  workloadIps: string[];
  /** HBONE once the pod's traffic is captured (annotation ambient.istio.io/redirection: enabled). */
  protocol: TunnelProtocol;
  node?: string;
  network?: string;
  workloadName?: string;
  workloadType?: 'deployment' | 'cronjob' | 'pod' | 'job';
  canonicalName?: string;
  canonicalRevision?: string;
  waypoint?: GatewayAddress;
  status?: HealthStatus;
  clusterId?: string;
  /** Keys `ns/name` of WORKLOAD_SELECTOR policies that select this workload. */
  authorizationPolicies?: string[];
  /** `ns/hostname` -> service port -> target port. */
  services?: Record<string, Record<string, number>>;
  capacity?: number;
  hostname?: string;
  nativeTunnel?: boolean;
  applicationTunnel?: { protocol: 'NONE' | 'PROXY'; port?: number };
  networkGateway?: GatewayAddress;
  networkMode?: 'Standard' | 'HostNetwork';
  locality?: { region?: string; zone?: string; subzone?: string };
}

/** Istio's WDS `AppProtocol` (UNKNOWN is left out). */
export type AppProtocol = 'HTTP11' | 'HTTP2' | 'GRPC';

export interface ServicePort {
  servicePort: number;
  targetPort: number;
  appProtocol?: AppProtocol;
}

export interface Service {
  name: string;
  namespace: string;
  /** FQDN, e.g. `productpage.default.svc.cluster.local`. */
  hostname: string;
  /** `network/ip`; the default network is the empty string, so `/10.96.0.12`. */
  vips: NetworkAddress[];
  /** service port -> target port (0 when the target port is named and resolved per endpoint). */
  ports: Record<string, number>;
  /**
   * service port -> application protocol, for ports whose protocol is declared (Istio's WDS `app_protocol`,
   * from the port's `appProtocol` or name prefix); undeclared ports are absent.
   */
  appProtocols?: Record<string, AppProtocol>;
  subjectAltNames?: string[];
  waypoint?: GatewayAddress;
  /** workload uid -> endpoint. */
  endpoints?: Record<string, { workloadUid: string; port: Record<string, number>; status?: HealthStatus; service?: string }>;
  canonical?: boolean;
  weightedWaypoints?: { waypoint: GatewayAddress; weight?: number }[];
  loadBalancer?: { routingPreferences?: string[]; mode?: 'Standard' | 'Strict' | 'Failover'; healthPolicy?: 'OnlyHealthy' | 'AllowAll' };
  ipFamilies?: 'IPv4' | 'IPv6' | 'Dual';
  visibility?: string;
  cidrVips?: string[];
}

export type StringMatch = { Exact: string } | { Prefix: string } | { Suffix: string } | { Presence: [] };

export interface ServiceAccountMatch {
  namespace: string;
  serviceAccount: string;
}

/** All populated fields are AND-ed; each field is (any positive) AND NOT (any negative). */
export interface Match {
  namespaces?: StringMatch[];
  notNamespaces?: StringMatch[];
  serviceAccounts?: ServiceAccountMatch[];
  notServiceAccounts?: ServiceAccountMatch[];
  principals?: StringMatch[];
  notPrincipals?: StringMatch[];
  /** CIDR strings. */
  sourceIps?: string[];
  notSourceIps?: string[];
  destinationIps?: string[];
  notDestinationIps?: string[];
  destinationPorts?: number[];
  notDestinationPorts?: number[];
}

export type PolicyScope = 'Global' | 'Namespace' | 'WorkloadSelector';
export type PolicyAction = 'Allow' | 'Deny';

/** rules -> clauses -> matches: a rule is the AND of its clauses, a clause the OR of its matches. */
export interface Authorization {
  name: string;
  namespace: string;
  scope: PolicyScope;
  action: PolicyAction;
  dryRun: boolean;
  rules: Match[][][];
}

/** The whole model, as the local config file holds it and as a full push carries it. */
export interface MeshConfig {
  workloads?: Workload[];
  services?: Service[];
  policies?: Authorization[];
}

/** Resource keys, as Istio names them: workload uid; service `ns/hostname`; policy `ns/name`. */
export const workloadKey = (w: Pick<Workload, 'uid'>): string => w.uid;
export const serviceKey = (s: Pick<Service, 'namespace' | 'hostname'>): string => `${s.namespace}/${s.hostname}`;
export const policyKey = (p: Pick<Authorization, 'namespace' | 'name'>): string => `${p.namespace}/${p.name}`;
/** A waypoint's Kubernetes object (`WaypointConfig.resources`): `Kind.group/ns/name`. */
export const resourceKey = (o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): string => {
  const i = o.apiVersion.indexOf('/');
  const group = i < 0 ? '' : o.apiVersion.slice(0, i);
  return `${o.kind}.${group}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
};

/** A match that sets no field (every list empty or absent): it constrains nothing. */
export function isEmptyMatch(m: Match): boolean {
  for (const v of Object.values(m)) if (Array.isArray(v) && v.length > 0) return false;
  return true;
}
