// Pure rendering of a class `istio` Gateway into ServiceAccount, Deployment and Service `<gateway>-<class>` (Istio's
// `kube-gateway` template): the waypoint's objects and image, named with the class suffix, labelled for the gateway
// controller, exposed by a LoadBalancer Service, and allowed to listen on ports below 1024 while running as 1337.
import { INGRESS_MANAGED_VALUE, L } from './constants.js';
import { ingressNames } from './names.js';
import { renderWaypoint, type RenderContext, type Rendered } from './render.js';
import type { Gateway } from './types.js';

export function renderIngressGateway(gw: Gateway, ctx: RenderContext): Rendered {
  return renderWaypoint(gw, ctx, {
    names: ingressNames(gw),
    managed: INGRESS_MANAGED_VALUE,
    // Istio adds it to every object of a non-waypoint class unless the Gateway sets it: the gateway is not captured.
    labels: { [L.dataplaneMode]: 'none' },
    serviceType: 'LoadBalancer',
    // The pod listens on the listener ports themselves (80, 443) as uid 1337.
    podSecurityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
    ingress: true,
  });
}
