// GRPCRoute (gateway.networking.k8s.io/v1) mesh routes: parentRef a Service, as the upstream conformance test
// MeshGRPCRouteWeight and the GRPCRoute spec describe them: method matches (Exact and RegularExpression on
// service and method), header matches, weighted backendRefs, request/response header filters; a gRPC request no
// rule matches gets the Service's default routing.

import test from 'ava';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { createTestEnv, runPlugin, type FakeRequest } from '@ambit/plugin-sdk/testing';
import { RoutingPlugin } from '../src/index.js';

const NS = 'gateway-conformance-mesh';

const svc = (name: string, vip: string): ServiceView => ({ name, namespace: NS, hostname: `${name}.${NS}.svc.cluster.local`, vips: [`/${vip}`], ports: { 9000: 9000 } });
const wl = (name: string, ip: string, service: string): WorkloadView => ({
  uid: `${NS}/${name}`,
  name,
  namespace: NS,
  serviceAccount: 'default',
  workloadIps: [ip],
  protocol: 'HBONE',
  services: { [`${NS}/${service}.${NS}.svc.cluster.local`]: { 9000: 9000 } },
});
const services = [svc('echo', '10.96.7.1'), svc('echo-v1', '10.96.7.2'), svc('echo-v2', '10.96.7.3'), svc('echo-v3', '10.96.7.4')];
const workloads = [wl('echo-a', '10.244.7.1', 'echo'), wl('echo-v1-a', '10.244.7.2', 'echo-v1'), wl('echo-v2-a', '10.244.7.3', 'echo-v2'), wl('echo-v3-a', '10.244.7.4', 'echo-v3')];

const grpcRoute = (name: string, rules: unknown[]): K8sObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'GRPCRoute',
  metadata: { name, namespace: NS },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 9000 }], rules },
});

function mesh(resources: K8sObject[], random?: () => number) {
  const e = createTestEnv({ services, workloads, resources, waypoint: { name: 'waypoint', namespace: NS } });
  const plugin = e.create(RoutingPlugin);
  if (random) plugin.random = random;
  return (req: FakeRequest) => runPlugin(plugin, { principal: `spiffe://cluster.local/ns/${NS}/sa/default`, ...req }, { env: e });
}

/** A unary gRPC call to the echo Service: POST /<service>/<method>, content-type application/grpc. */
const rpc = (method: string, headers: Record<string, string> = {}): FakeRequest => ({
  method: 'POST',
  path: method,
  destination: '10.96.7.1:9000',
  authority: `echo.${NS}:9000`,
  headers: { 'content-type': 'application/grpc', te: 'trailers', ...headers },
});

/** Which pod answered, and what the client and the backend see of the route's filters. */
async function served(run: ReturnType<typeof mesh>, req: FakeRequest) {
  const r = await run(req);
  const ep = r.route?.backend.endpoint;
  return { status: r.status, pod: ep?.workload?.name, route: r.route?.name, response: r.responseHeaders['x-route'], upstream: r.ctx.request.headers['x-added'] };
}

test('MeshGRPCRouteWeight: the backends of a rule share requests by weight (70/30/0 over 1000 calls)', async (t) => {
  const run = mesh([
    grpcRoute('weighted', [
      {
        backendRefs: [
          { name: 'echo-v1', port: 9000, weight: 70 },
          { name: 'echo-v2', port: 9000, weight: 30 },
          { name: 'echo-v3', port: 9000, weight: 0 },
        ],
      },
    ]),
  ]);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    const s = await served(run, rpc('/grpc.testing.TestService/UnaryCall'));
    t.is(s.status, 200);
    counts[s.pod ?? 'none'] = (counts[s.pod ?? 'none'] ?? 0) + 1;
  }
  t.true(counts['echo-v1-a']! > 600 && counts['echo-v1-a']! < 800, JSON.stringify(counts));
  t.true(counts['echo-v2-a']! > 200 && counts['echo-v2-a']! < 400, JSON.stringify(counts));
  t.false('echo-v3-a' in counts, 'weight 0 gets nothing');
  t.deepEqual(Object.keys(counts).sort(), ['echo-v1-a', 'echo-v2-a']);
});

test('method matches: Exact service+method, service only, method only, RegularExpression; headers; filters', async (t) => {
  const to = (name: string) => [{ name, port: 9000 }];
  const run = mesh([
    grpcRoute('methods', [
      {
        matches: [{ method: { service: 'echo.Echo', method: 'Hello' } }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-added', value: 'exact' }] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-route', value: 'exact' }] } },
        ],
        backendRefs: to('echo-v1'),
      },
      { matches: [{ method: { service: 'echo.Echo' } }], backendRefs: to('echo-v2') },
      { matches: [{ method: { type: 'RegularExpression', service: 'other\\..*', method: 'Get.*' } }], backendRefs: to('echo-v3') },
      { matches: [{ method: { method: 'Ping' }, headers: [{ name: 'x-version', value: 'v3' }] }], backendRefs: [{ name: 'echo-v3', port: 9000, filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-route', value: 'ping' }] } }] }] },
    ]),
  ]);
  t.like(await served(run, rpc('/echo.Echo/Hello')), { status: 200, pod: 'echo-v1-a', route: `GRPCRoute/${NS}/methods`, response: 'exact', upstream: 'exact' });
  t.like(await served(run, rpc('/echo.Echo/Other')), { status: 200, pod: 'echo-v2-a', response: undefined, upstream: undefined }, 'service only: any method of it');
  t.like(await served(run, rpc('/other.Svc/GetThing')), { pod: 'echo-v3-a' });
  t.like(await served(run, rpc('/other.Svc/PutThing')), { status: 200, pod: 'echo-a', route: 'default' }, 'no rule matches: the Service\'s default routing');
  t.like(await served(run, rpc('/any.Svc/Ping', { 'x-version': 'v3' })), { pod: 'echo-v3-a', response: 'ping' }, 'method only, with a header match');
  t.like(await served(run, rpc('/any.Svc/Ping')), { pod: 'echo-a', route: 'default' }, 'the header does not match');
  t.like(await served(run, rpc('/echo.Echo.Sub/Hello')), { pod: 'echo-a' }, 'a service is matched whole, not as a prefix');
});

test('GRPCRoute rules apply to gRPC requests; a plain HTTP request to the Service keeps its routing', async (t) => {
  const run = mesh([grpcRoute('only-grpc', [{ backendRefs: [{ name: 'echo-v1', port: 9000 }] }])]);
  t.like(await served(run, rpc('/echo.Echo/Hello')), { pod: 'echo-v1-a' });
  t.like(await served(run, { method: 'GET', path: '/echo.Echo/Hello', destination: '10.96.7.1:9000', authority: `echo.${NS}:9000` }), { pod: 'echo-a', route: 'default' });
});

test('a GRPCRoute backend that does not exist answers 500 to the calls routed to it (grpc status at the runtime)', async (t) => {
  const run = mesh([grpcRoute('missing', [{ backendRefs: [{ name: 'nope', port: 9000 }] }])]);
  t.like(await served(run, rpc('/echo.Echo/Hello')), { status: 500 });
});
