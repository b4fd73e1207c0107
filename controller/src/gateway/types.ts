// The parts of Gateway API and core objects the waypoint controller reads (plain JSON shapes).
import type { Condition, KubeObject } from '../kube/resources.js';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export interface Listener {
  name: string;
  port: number;
  protocol: string;
  hostname?: string;
  allowedRoutes?: { namespaces?: { from?: 'Same' | 'All' | 'Selector'; selector?: LabelSelector }; kinds?: Array<{ group?: string; kind: string }> };
}

export interface GatewayAddress {
  type?: string;
  value: string;
}

export interface ListenerStatus {
  name: string;
  supportedKinds: Array<{ group?: string; kind: string }>;
  attachedRoutes: number;
  conditions: Condition[];
}

export interface GatewayStatus {
  conditions?: Condition[];
  listeners?: ListenerStatus[];
  addresses?: GatewayAddress[];
}

export interface Gateway extends KubeObject {
  spec: {
    gatewayClassName: string;
    listeners?: Listener[];
    addresses?: GatewayAddress[];
    infrastructure?: { labels?: Record<string, string>; annotations?: Record<string, string>; parametersRef?: unknown };
  };
  status?: GatewayStatus;
}

export interface GatewayClass extends KubeObject {
  spec: { controllerName: string; description?: string; parametersRef?: unknown };
  status?: { conditions?: Condition[] };
}

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    selector?: Record<string, string>;
    ports?: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string; appProtocol?: string }>;
  };
  status?: { conditions?: Condition[]; loadBalancer?: unknown };
}

export interface EndpointSlice extends KubeObject {
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }; targetRef?: { kind?: string; name?: string; namespace?: string } }>;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
}

export type Namespace = KubeObject;
