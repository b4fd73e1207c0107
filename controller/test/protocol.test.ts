import test from 'ava';
import { buildMesh } from '../src/mesh/build.js';
import { appProtocolOf } from '../src/mesh/protocol.js';
import type { MeshInput } from '../src/mesh/input.js';
import { bookinfo, namespace } from './mesh-fixtures.js';

test('a Service port protocol follows Istio: appProtocol first (kubernetes.io/h2c is HTTP/2), else the name prefix', (t) => {
  t.is(appProtocolOf({ name: 'grpc' }), 'GRPC');
  t.is(appProtocolOf({ name: 'grpc-api' }), 'GRPC');
  t.is(appProtocolOf({ name: 'GRPC-api' }), 'GRPC');
  t.is(appProtocolOf({ name: 'http2-web' }), 'HTTP2');
  t.is(appProtocolOf({ name: 'h2c' }), undefined, 'only the appProtocol kubernetes.io/h2c means h2c');
  t.is(appProtocolOf({ name: 'http' }), 'HTTP11');
  t.is(appProtocolOf({ name: 'http-web' }), 'HTTP11');
  t.is(appProtocolOf({ name: 'grpc-web' }), undefined);
  t.is(appProtocolOf({ name: 'https' }), undefined);
  t.is(appProtocolOf({ name: 'tcp-db' }), undefined);
  t.is(appProtocolOf({ name: 'web' }), undefined);
  t.is(appProtocolOf({}), undefined);
  t.is(appProtocolOf({ name: 'http', appProtocol: 'grpc' }), 'GRPC');
  t.is(appProtocolOf({ name: 'grpc', appProtocol: 'tcp' }), undefined);
  t.is(appProtocolOf({ appProtocol: 'kubernetes.io/h2c' }), 'HTTP2');
  t.is(appProtocolOf({ appProtocol: 'kubernetes.io/ws' }), 'HTTP11');
  t.is(appProtocolOf({ appProtocol: 'http2' }), 'HTTP2');
  t.is(appProtocolOf({ name: 'grpc', protocol: 'UDP' }), undefined);
});

test('the mesh model carries declared port protocols as appProtocols; services without any have none', (t) => {
  const input: MeshInput = { pods: [], services: [], namespaces: [namespace('ns')], gateways: [], gatewayClasses: [] };
  input.services = [
    {
      metadata: { name: 'api', namespace: 'ns' },
      spec: { clusterIP: '10.96.1.2', selector: { app: 'api' }, ports: [{ name: 'grpc', port: 50051 }, { name: 'http-admin', port: 8080 }, { port: 9090, appProtocol: 'kubernetes.io/h2c' }, { name: 'metrics', port: 9100 }] },
    },
    { metadata: { name: 'db', namespace: 'ns' }, spec: { clusterIP: '10.96.1.3', selector: { app: 'db' }, ports: [{ name: 'tcp', port: 5432 }] } },
  ];
  const { mesh } = buildMesh(input);
  t.deepEqual(mesh.services!.find((s) => s.name === 'api')!.appProtocols, { 50051: 'GRPC', 8080: 'HTTP11', 9090: 'HTTP2' });
  t.is(mesh.services!.find((s) => s.name === 'db')!.appProtocols, undefined);
  // Bookinfo names its ports "http".
  const { mesh: bi } = buildMesh(bookinfo());
  t.deepEqual(bi.services!.find((s) => s.name === 'reviews')!.appProtocols, { 9080: 'HTTP11' });
});
