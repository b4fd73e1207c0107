// The Istio API's ingress gateway that `ambit install --set components.ingressGateways[0].enabled=true` adds:
// ServiceAccount, Deployment and LoadBalancer Service `istio-ingressgateway` with istioctl's names, labels and ports,
// running the waypoint image exactly as the waypoint Deployment renders it (gateway/render.ts), so the ingress and
// the waypoints never drift apart in how the runtime is started, secured and probed.
import { renderWaypoint, type Gateway } from '../gateway/index.js';
import type { KubeObject } from '../kube/resources.js';
import { INGRESS_GATEWAY_NAME, INGRESS_SERVICE_ACCOUNT } from '../gateway/names.js';

/** The labels Istio Gateways select (`selector: istio: ingressgateway`); also the Deployment's and Service's selector. */
export const INGRESS_SELECTOR: Readonly<Record<string, string>> = { app: INGRESS_GATEWAY_NAME, istio: 'ingressgateway' };
/** istioctl's Service ports: status-port 15021, http2 80 -> 8080, https 443 -> 8443 (the pod runs as non-root). */
export const INGRESS_PORTS = [
  { name: 'status-port', port: 15021, targetPort: 15021 },
  { name: 'http2', port: 80, targetPort: 8080 },
  { name: 'https', port: 443, targetPort: 8443 },
] as const;

/** Labels render.ts gives a Gateway's objects that would make this look like a Gateway-owned deployment. */
const GATEWAY_LABELS = ['gateway.networking.k8s.io/gateway-name', 'gateway.networking.k8s.io/gateway-class-name', 'gateway.istio.io/managed'];
/** Annotations render.ts adds for Gateway-API waypoints that do not apply to the installed ingress. */
const GATEWAY_ANNOTATIONS = ['networking.istio.io/traffic-distribution'];

interface Metadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown;
}

function strip(meta: Metadata): void {
  for (const l of GATEWAY_LABELS) delete meta.labels?.[l];
  for (const a of GATEWAY_ANNOTATIONS) delete meta.annotations?.[a];
  if (meta.annotations && Object.keys(meta.annotations).length === 0) delete meta.annotations;
  delete meta.ownerReferences;
}

/** ServiceAccount, Deployment and Service of the ingress gateway in `namespace`, image `ambit/waypoint:<version>`. */
export function renderIngressGateway(namespace: string, version: string): KubeObject[] {
  // The waypoint renderer's input: a Gateway that names the install's ServiceAccount and carries Istio's labels.
  const gw: Gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: INGRESS_GATEWAY_NAME, namespace, labels: { ...INGRESS_SELECTOR }, annotations: { 'gateway.istio.io/service-account': INGRESS_SERVICE_ACCOUNT } },
    spec: { gatewayClassName: '', listeners: [] },
  };
  const r = renderWaypoint(gw, { version, istioNamespace: namespace });
  for (const o of [r.serviceAccount, r.deployment, r.service]) strip(o.metadata as Metadata);

  const dep = r.deployment.spec as {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: Metadata; spec: { containers: Array<{ ports: unknown[] }> } };
  };
  dep.selector = { matchLabels: { ...INGRESS_SELECTOR } };
  strip(dep.template.metadata);
  // Istio's ingress pod labels; render.ts already set sidecar.istio.io/inject=false, istio.io/dataplane-mode=none
  // and service.istio.io/canonical-name (the Deployment's name).
  dep.template.metadata.labels = { ...dep.template.metadata.labels, ...INGRESS_SELECTOR };
  // The ingress takes plain traffic from outside the mesh on the Service's target ports, not HBONE on 15008.
  dep.template.spec.containers[0]!.ports = [
    ...INGRESS_PORTS.filter((p) => p.name !== 'status-port').map((p) => ({ containerPort: p.targetPort, name: p.name, protocol: 'TCP' })),
    { containerPort: 15020, name: 'metrics', protocol: 'TCP' },
    { containerPort: 15021, name: 'status-port', protocol: 'TCP' },
  ];

  r.service.spec = {
    type: 'LoadBalancer',
    selector: { ...INGRESS_SELECTOR },
    ports: INGRESS_PORTS.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: 'TCP' })),
  };
  return [r.serviceAccount, r.deployment, r.service];
}
