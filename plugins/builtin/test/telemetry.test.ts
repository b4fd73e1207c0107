import test from 'ava';
import { createTestEnv, runChain } from '@ambit/plugin-sdk/testing';
import { AuthzPlugin, RoutingPlugin, TelemetryPlugin } from '../src/index.js';

const services = [{ name: 'productpage', namespace: 'default', hostname: 'productpage.default.svc.cluster.local', vips: ['/10.96.0.30'], ports: { 9080: 9080 } }];
const workloads = [
  { uid: 'pp', name: 'productpage-v1-abc', workloadName: 'productpage-v1', namespace: 'default', serviceAccount: 'bookinfo-productpage', workloadIps: ['10.244.0.20'], protocol: 'HBONE' as const, canonicalName: 'productpage', canonicalRevision: 'v1', services: { 'default/productpage.default.svc.cluster.local': { 9080: 9080 } } },
  { uid: 'sl', name: 'sleep-xyz', workloadName: 'sleep', namespace: 'default', serviceAccount: 'sleep', workloadIps: ['10.244.0.10'], protocol: 'HBONE' as const, canonicalName: 'sleep', canonicalRevision: 'latest' },
];

test('istio_requests_total and friends with reporter=waypoint and Istio labels; an access-log line; trace headers', async (t) => {
  const env = createTestEnv({ services, workloads });
  const r = await runChain([TelemetryPlugin, RoutingPlugin], { destination: '10.96.0.30:9080', authority: 'productpage:9080', principal: 'spiffe://cluster.local/ns/default/sa/sleep', sourceAddress: '10.244.0.10', path: '/productpage', body: 'abc', upstream: { status: 200, body: 'hello' } }, { env });
  const labels = {
    reporter: 'waypoint',
    source_workload: 'sleep',
    source_workload_namespace: 'default',
    source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
    source_app: 'sleep',
    source_version: undefined,
    source_canonical_service: 'sleep',
    source_canonical_revision: 'latest',
    source_cluster: 'Kubernetes',
    destination_workload: 'productpage-v1',
    destination_workload_namespace: 'default',
    destination_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    destination_app: 'productpage',
    destination_version: 'v1',
    destination_service: 'productpage.default.svc.cluster.local',
    destination_service_name: 'productpage',
    destination_service_namespace: 'default',
    destination_canonical_service: 'productpage',
    destination_canonical_revision: 'v1',
    destination_cluster: 'Kubernetes',
    request_protocol: 'http',
    response_code: '200',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: 'mutual_tls',
  };
  t.is(env.metrics.get('istio_requests_total', labels), 1);
  t.is(env.metrics.get('istio_request_duration_milliseconds', labels), 1);
  const text = (await env.metrics.render());
  t.regex(text, /istio_request_bytes_sum\{[^}]*\} 3/);
  t.regex(text, /istio_response_bytes_sum\{[^}]*\} 5/);
  t.regex(r.requestHeaders['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  t.is(r.requestHeaders.traceparent, undefined, 'tracing is off by default: no trace is started');
  t.is(env.accessLog.length, 1);
  t.regex(env.accessLog[0]!, /"GET \/productpage HTTP\/1.1" 200 - via_upstream - "-" 3 5 \d+ - "-" "-" "[0-9a-f-]{36}" "productpage:9080" "10.244.0.20:9080" outbound\|9080\|\|productpage.default.svc.cluster.local - 10.96.0.30:9080 10.244.0.10:40000 - default src.identity="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"/);
});

test('a denied request is counted with response_code 403 and no response flag, as Envoy\'s RBAC filter reports it', async (t) => {
  const env = createTestEnv({
    services,
    workloads,
    resources: [{ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'default' }, spec: { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }, action: 'DENY', rules: [{}] } }],
  });
  await runChain([TelemetryPlugin, AuthzPlugin, RoutingPlugin], { destination: '10.96.0.30:9080', principal: 'spiffe://cluster.local/ns/default/sa/sleep' }, { env });
  t.regex((await env.metrics.render()), /istio_requests_total\{[^}]*response_code="403",grpc_response_status="",response_flags="-"[^}]*\} 1/);
  t.regex(env.accessLog[0]!, /" 403 - rbac_access_denied_matched_policy\[none\]/);
});

test('tracing on: an incoming traceparent keeps its trace id and flags, with a new span id; x-request-id is kept', async (t) => {
  const env = createTestEnv({ services, workloads, tracing: { provider: 'otel', endpoint: 'http://127.0.0.1:9/v1/traces', randomSamplingPercentage: 100, disableSpanReporting: true } });
  const r = await runChain([TelemetryPlugin], { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', 'x-request-id': 'req-1' } }, { env });
  t.regex(r.requestHeaders.traceparent as string, /^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-00$/);
  t.is(r.requestHeaders['x-request-id'], 'req-1');
  t.is(r.ctx.id, 'req-1');
});

test('an ingress gateway reports as Istio\'s gateways do: reporter="source", the gateway itself the source', async (t) => {
  const env = createTestEnv({ services, workloads, waypoint: { name: 'bookinfo-gateway', namespace: 'istio-system', serviceAccount: 'bookinfo-gateway-istio', workload: 'bookinfo-gateway-istio' } });
  await runChain([TelemetryPlugin, RoutingPlugin], { destination: '10.96.0.30:9080', authority: 'productpage:9080', sourceAddress: '203.0.113.7', path: '/productpage', ingress: { listener: 'http', port: 80, routes: [] }, upstream: { status: 200 } }, { env });
  const text = (await env.metrics.render());
  const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{'))!;
  t.regex(line, /reporter="source"/);
  t.regex(line, /source_workload="bookinfo-gateway-istio",source_workload_namespace="istio-system",source_principal="spiffe:\/\/cluster.local\/ns\/istio-system\/sa\/bookinfo-gateway-istio"/);
  t.regex(line, /destination_service="productpage.default.svc.cluster.local"/);
  t.regex(line, /connection_security_policy="unknown"/);
  t.notRegex(text, /reporter="waypoint"/);
});
