// An ingress gateway's config: listeners are checked on arrival, so a malformed push is refused (NACK) with the
// field named, never half-applied.
import test from 'ava';
import { ConfigError, validateConfig } from '@ambit/mesh-api';

const config = (listeners: unknown) => ({
  waypoint: {
    name: 'bookinfo-gateway',
    namespace: 'istio-system',
    gatewayClassName: 'istio',
    trafficType: 'none',
    services: [],
    workloads: [],
    role: 'ingress',
    listeners,
  },
  workloads: [],
  services: [],
  resources: [],
});

const http = {
  name: 'http',
  parent: { group: 'gateway.networking.k8s.io', namespace: 'istio-system', name: 'bookinfo-gateway' },
  port: 80,
  targetPort: 80,
  protocol: 'HTTP',
  routes: ['HTTPRoute.gateway.networking.k8s.io/default/bookinfo'],
};

test('an ingress config with an HTTP and an HTTPS listener is accepted', (t) => {
  const https = { ...http, name: 'https', port: 443, targetPort: 443, protocol: 'HTTPS', hostnames: ['bookinfo.example.com'], tls: { mode: 'Terminate', certificates: [{ certChain: 'PEM', privateKey: 'PEM' }] } };
  t.notThrows(() => validateConfig('waypoint', config([http, https])));
});

test('a listener with a bad port, protocol or certificate is refused, naming the field', (t) => {
  t.throws(() => validateConfig('waypoint', config([{ ...http, targetPort: 70000 }])), { instanceOf: ConfigError, message: /listeners\[0\]\.targetPort/ });
  t.throws(() => validateConfig('waypoint', config([{ ...http, protocol: 'UDP' }])), { instanceOf: ConfigError, message: /listeners\[0\]\.protocol/ });
  t.throws(() => validateConfig('waypoint', config([{ ...http, tls: { mode: 'Terminate', certificates: [{ certChain: 'x' }] } }])), { message: /certificates\[0\]\.privateKey/ });
  t.throws(() => validateConfig('waypoint', config('nope')), { message: /waypoint\.listeners: expected an array/ });
});
