// A GAMMA GRPCRoute reaches the waypoint of its Service, and the status writer (against an in-memory API) gives
// it this controller's status.parents entry (one per Service parent: Accepted, ResolvedRefs, ResolvedWaypoints),
// written to grpcroutes/status as HTTPRoutes' are, with the route's generation observed.
import test from 'ava';
import { KubeClient } from '../src/kube/client.js';
import type { KubeObject } from '../src/kube/resources.js';
import { buildMesh } from '../src/mesh/build.js';
import type { MeshInput } from '../src/mesh/input.js';
import { StatusWriter } from '../src/status/writer.js';
import { FakeApiServer } from './fake-apiserver.js';

const GW = 'gateway.networking.k8s.io';
const svc = (name: string, labels: Record<string, string> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'grpc', labels }, spec: { clusterIP: '10.96.0.70', ports: [{ port: 9000, appProtocol: 'grpc' }], selector: { app: name } } }) as KubeObject;

test('GRPCRoute to a Service bound to a waypoint: Accepted, ResolvedRefs (BackendNotFound for a missing backend), ResolvedWaypoints, per parent', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  t.teardown(() => api.stop());
  const route = (name: string, backends: string[]): KubeObject => ({
    apiVersion: `${GW}/v1`,
    kind: 'GRPCRoute',
    metadata: { name, namespace: 'grpc', generation: 4 },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 9000 }],
      rules: [{ matches: [{ method: { service: 'echo.Echo' } }], backendRefs: backends.map((b, i) => ({ name: b, port: 9000, weight: i ? 30 : 70 })) }],
    },
  });
  const good = route('weighted', ['echo-v1', 'echo-v2']);
  const bad = route('missing', ['echo-v9']);
  for (const r of [good, bad]) api.put(`/apis/${GW}/v1/namespaces/grpc/grpcroutes`, structuredClone(r) as never);
  const input: MeshInput = {
    pods: [],
    namespaces: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'grpc' } }],
    services: [svc('echo', { 'istio.io/use-waypoint': 'waypoint' }), svc('echo-v1'), svc('echo-v2')] as MeshInput['services'],
    gateways: [
      {
        apiVersion: `${GW}/v1`,
        kind: 'Gateway',
        metadata: { name: 'waypoint', namespace: 'grpc' },
        spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
        status: { addresses: [{ type: 'Hostname', value: 'waypoint.grpc.svc.cluster.local' }] },
      },
    ] as MeshInput['gateways'],
    gatewayClasses: [{ apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: 'istio-waypoint' }, spec: { controllerName: 'istio.io/mesh-controller' } }] as MeshInput['gatewayClasses'],
    grpcRoutes: [good, bad],
  };
  const model = buildMesh(input);
  // The waypoint of the parent Service is sent both routes.
  t.deepEqual((model.waypoints.get('grpc/waypoint')?.resources ?? []).filter((r) => r.kind === 'GRPCRoute').map((r) => r.metadata.name).sort(), ['missing', 'weighted']);
  const writer = new StatusWriter({ client });
  await writer.sync(model, input);
  const parentsOf = (name: string) =>
    (api.get(`/apis/${GW}/v1/namespaces/grpc/grpcroutes`, name) as { status?: { parents?: Array<{ parentRef: unknown; controllerName: string; conditions: Array<Record<string, unknown>> }> } } | undefined)?.status?.parents ?? [];
  const conditions = (name: string) => parentsOf(name)[0]?.conditions.map(({ type, status, reason, observedGeneration }) => ({ type, status, reason, observedGeneration }));
  t.is(parentsOf('weighted').length, 1);
  t.deepEqual(parentsOf('weighted')[0]!.parentRef, { group: '', kind: 'Service', name: 'echo', port: 9000 });
  t.is(parentsOf('weighted')[0]!.controllerName, 'istio.io/mesh-controller');
  t.deepEqual(conditions('weighted'), [
    { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 4 },
    { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', observedGeneration: 4 },
    { type: 'ResolvedWaypoints', status: 'True', reason: 'ResolvedWaypoints', observedGeneration: 4 },
  ]);
  t.like(conditions('missing')?.[1], { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound' });
  t.true(api.requests.some((r) => r === `PUT /apis/${GW}/v1/namespaces/grpc/grpcroutes/weighted/status`), api.requests.join('\n'));
});
