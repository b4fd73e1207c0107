import test from 'ava';
import { validateConfig } from '@ambit/mesh-api';
import { parseLocalConfig } from '../src/index.js';

const svc = (appProtocols: unknown) => ({ name: 'api', namespace: 'ns', hostname: 'api.ns.svc.cluster.local', vips: ['/10.96.1.2'], ports: { 50051: 50051 }, appProtocols });

test('a service carries its ports\' declared application protocols (WDS app_protocol) in the local file and the push', (t) => {
  const cfg = parseLocalConfig('services:\n- {name: api, namespace: ns, hostname: api.ns.svc.cluster.local, vips: [/10.96.1.2], ports: {50051: 50051}, appProtocols: {50051: GRPC}}\n');
  t.deepEqual(cfg.services![0]!.appProtocols, { 50051: 'GRPC' });
  t.throws(() => parseLocalConfig('services:\n- {name: a, namespace: b, hostname: c, ports: {80: 80}, appProtocols: {80: SPDY}}\n'), { message: /unknown variant `SPDY`/ });
  t.notThrows(() => validateConfig('ztunnel', { services: [svc({ 50051: 'HTTP2' })] }));
  t.throws(() => validateConfig('ztunnel', { services: [svc({ 50051: 'h2' })] }), { message: /appProtocols\.50051/ });
  t.throws(() => validateConfig('ztunnel', { services: [svc({ web: 'GRPC' })] }), { message: /appProtocols key/ });
});
