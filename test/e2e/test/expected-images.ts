// What the images must be, shared by the Dockerfile checks and the built-archive checks: the image the controller
// renders a waypoint with, and the ENV each Bookinfo reviews version carries (its build args, as upstream builds it).
import { VERSION, renderWaypoint, type Gateway } from '@ambit/controller';

export function renderedWaypointImages(): string[] {
  const gw: Gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'default', uid: 'u1' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
  const dep = renderWaypoint(gw, { version: VERSION }).deployment as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
  return dep.spec.template.spec.containers.map((c) => c.image);
}

export const REVIEWS_ENV: Record<string, Record<string, string>> = {
  v1: { SERVICE_VERSION: 'v1', ENABLE_RATINGS: 'false', STAR_COLOR: 'black' },
  v2: { SERVICE_VERSION: 'v2', ENABLE_RATINGS: 'true', STAR_COLOR: 'black' },
  v3: { SERVICE_VERSION: 'v3', ENABLE_RATINGS: 'true', STAR_COLOR: 'red' },
};
