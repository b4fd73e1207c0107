import test from 'ava';
import { applyMessage, validateConfig } from '@ambit/mesh-api';
import { buildMesh } from '../src/mesh/build.js';
import type { KubeObject } from '../src/kube/resources.js';
import { bookinfo, waypointGateway } from './mesh-fixtures.js';

const meshConfig = (mesh: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh } }) as KubeObject;
const telemetry = (ns: string, name: string, tracing: unknown, extra: Record<string, unknown> = {}): KubeObject =>
  ({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace: ns, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { tracing, ...extra } }) as KubeObject;

const PROVIDERS = `
extensionProviders:
- name: otel-tracing
  opentelemetry:
    service: opentelemetry-collector.observability.svc.cluster.local
    port: 4318
    http:
      path: /v1/traces
      timeout: 5s
- name: grpc-only
  opentelemetry:
    service: observability/otel.observability.svc.cluster.local
    port: 4317
- name: bad-port
  opentelemetry:
    service: otel.observability.svc.cluster.local
    port: 70000
    http: {}
`;

function input(telemetries: KubeObject[], mesh = PROVIDERS) {
  const i = bookinfo();
  i.gateways = [waypointGateway('waypoint'), waypointGateway('other')];
  i.meshConfigs = [meshConfig(mesh)];
  i.telemetries = telemetries;
  return i;
}

test('a mesh-wide Telemetry choosing an opentelemetry extensionProvider becomes every waypoint\'s tracing; a namespace or targetRef Telemetry overrides it field by field', (t) => {
  const { waypoints, warnings } = buildMesh(input([
    telemetry('istio-system', 'mesh-default', [{ providers: [{ name: 'otel-tracing' }], randomSamplingPercentage: 10 }]),
    telemetry('default', 'waypoint-only', [{ randomSamplingPercentage: 100 }], { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }] }),
  ]));
  t.deepEqual(warnings.filter((w) => w.object.startsWith('Telemetry')), []);
  const expected = { provider: 'otel-tracing', endpoint: 'http://opentelemetry-collector.observability.svc.cluster.local:4318/v1/traces', timeoutMs: 5000 };
  t.deepEqual(waypoints.get('default/waypoint')!.tracing, { ...expected, randomSamplingPercentage: 100 });
  t.deepEqual(waypoints.get('default/other')!.tracing, { ...expected, randomSamplingPercentage: 10 });
  // What the push sends is valid under the stream contract.
  t.notThrows(() => validateConfig('waypoint', waypoints.get('default/waypoint')!));
});

test('no Telemetry and no defaultProviders: tracing is off; defaultProviders.tracing alone turns it on at the mesh default sampling', (t) => {
  t.is(buildMesh(input([])).waypoints.get('default/waypoint')!.tracing, undefined);
  const on = buildMesh(input([], `${PROVIDERS}\ndefaultProviders:\n  tracing: [otel-tracing]\ndefaultConfig:\n  tracing:\n    sampling: 2.5\n`));
  t.is(on.waypoints.get('default/waypoint')!.tracing?.randomSamplingPercentage, 2.5);
  const defaultPct = buildMesh(input([telemetry('istio-system', 'mesh-default', [{ providers: [{ name: 'otel-tracing' }] }])]));
  t.is(defaultPct.waypoints.get('default/waypoint')!.tracing?.randomSamplingPercentage, 1, "Istio's 1% default");
});

test('bad tracing config is a warning naming the object and field, and tracing stays off', (t) => {
  const unknown = buildMesh(input([telemetry('istio-system', 'mesh-default', [{ providers: [{ name: 'jaeger' }] }])]));
  t.is(unknown.waypoints.get('default/waypoint')!.tracing, undefined);
  t.true(unknown.warnings.some((w) => w.object === 'Telemetry istio-system/mesh-default' && w.message.startsWith('spec.tracing[0].providers[0].name: no extensionProvider "jaeger"')));
  t.true(unknown.warnings.some((w) => w.object === 'ConfigMap istio-system/istio' && w.message.includes('extensionProviders[2].opentelemetry.port (provider "bad-port"): expected a port from 1 to 65535, got 70000')));

  const grpc = buildMesh(input([telemetry('istio-system', 'mesh-default', [{ providers: [{ name: 'grpc-only' }] }])]));
  t.is(grpc.waypoints.get('default/waypoint')!.tracing, undefined);
  t.true(grpc.warnings.some((w) => w.object === 'ConfigMap istio-system/istio' && w.message.includes('extensionProviders[1].opentelemetry.http') && w.message.includes('OTLP/gRPC')));

  const pct = buildMesh(input([telemetry('istio-system', 'mesh-default', [{ providers: [{ name: 'otel-tracing' }], randomSamplingPercentage: 150 }])]));
  t.true(pct.warnings.some((w) => w.object === 'Telemetry istio-system/mesh-default' && w.message.startsWith('spec.tracing[0].randomSamplingPercentage: expected a number from 0 to 100, got 150')));

  const yaml = buildMesh(input([], 'extensionProviders: [unclosed'));
  t.true(yaml.warnings.some((w) => w.object === 'ConfigMap istio-system/istio' && w.message.startsWith('data.mesh:')));
});

test('the stream contract refuses a malformed tracing field, naming it', (t) => {
  const base = { waypoint: { name: 'w', namespace: 'default', gatewayClassName: 'istio-waypoint', trafficType: 'service', services: [], workloads: [] } };
  t.throws(() => validateConfig('waypoint', { ...base, tracing: { provider: 'p', endpoint: 'ftp://x', randomSamplingPercentage: 1 } }), { message: /^tracing.endpoint: expected an http\(s\) URL/ });
  t.throws(() => validateConfig('waypoint', { ...base, tracing: { provider: 'p', endpoint: 'http://x:4318/v1/traces', randomSamplingPercentage: 101 } }), { message: /^tracing.randomSamplingPercentage/ });
  const held = { version: '1', config: applyMessage('waypoint', undefined, { version: '1', nonce: 'a', full: { ...base, tracing: { provider: 'p', endpoint: 'http://x:4318/v1/traces', randomSamplingPercentage: 5 } } }) };
  const off = applyMessage('waypoint', held, { version: '2', nonce: 'b', base: '1', removals: { tracing: ['tracing'] } }) as { tracing?: unknown };
  t.is(off.tracing, undefined, 'a removal turns tracing off');
});
