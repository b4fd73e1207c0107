// Class istio (Gateway API ingress) gateways in the mesh model and in route status: what the gateway is sent (role
// ingress, listeners with their certificates and accepted routes, the routes, grants and policies) and what the
// routes' istio.io/gateway-controller parent entries say, including every way a route is refused.
import test from 'ava';
import { resourceKey } from '@ambit/mesh-api';
import { buildMesh } from '../src/mesh/build.js';
import type { Gateway, MeshInput } from '../src/mesh/input.js';
import type { KubeObject } from '../src/kube/resources.js';
import { ingressAttachedRoutes, ingressRouteParentStatuses } from '../src/status/ingress-routes.js';
import { certificateOf } from '../src/gateway/ingress-listeners.js';

// A throwaway self-signed P-256 pair for bookinfo.example.com, made for these tests only.
const CRT = 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ0akNDQVZ5Z0F3SUJBZ0lVYlU4ZkdHeHZZNG5GWTRuakJrR05uY0NEaUc4d0NnWUlLb1pJemowRUF3SXcKSHpFZE1Cc0dBMVVFQXd3VVltOXZhMmx1Wm04dVpYaGhiWEJzWlM1amIyMHdJQmNOTWpZeE1qQTJNRGd3T1RNMwpXaGdQTWpFeU5qRXhNVEl3T0RBNU16ZGFNQjh4SFRBYkJnTlZCQU1NRkdKdmIydHBibVp2TG1WNFlXMXdiR1V1ClkyOXRNRmt3RXdZSEtvWkl6ajBDQVFZSUtvWkl6ajBEQVFjRFFnQUVZbkl2N3k1a3lLbkhhK3NDbjZGS2JLRHYKVEFNNU1HY3hBRXhUMEllS2lEU1hhS0pyZ3VnMVMzUDRrUU5tcEJrV2lROWx2aW5FN2p1c2xDeG9oMVFNOHFOMApNSEl3SFFZRFZSME9CQllFRkR0ZmZrT2lrZjYzT3FLN2hNc051MTI5WGw3d01COEdBMVVkSXdRWU1CYUFGRHRmCmZrT2lrZjYzT3FLN2hNc051MTI5WGw3d01BOEdBMVVkRXdFQi93UUZNQU1CQWY4d0h3WURWUjBSQkJnd0ZvSVUKWW05dmEybHVabTh1WlhoaGJYQnNaUzVqYjIwd0NnWUlLb1pJemowRUF3SURTQUF3UlFJaEFOc0NsbnZ1WEtzTwpUWFhIcTJNR2oyRWljV3poSjYyNVZWVDF5dzgycjhDYkFpQTljeHJuTnBtdldJVTlHK2UrWFB3NGZSbTQzWEw2CktOWDJ5d3VZQjB4aHBBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=';
const KEY = 'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ1RjL05id2JNZ1UxSUdLSmkKTFZoczRkUUxua1IwM3YvaFp1V3E4bGxrcWJlaFJBTkNBQVJpY2kvdkxtVElxY2RyNndLZm9VcHNvTzlNQXprdwpaekVBVEZQUWg0cUlOSmRvb211QzZEVkxjL2lSQTJha0dSYUpEMlcrS2NUdU82eVVMR2lIVkF6eQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==';
const GW = 'gateway.networking.k8s.io';

const ns = (name: string, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const secret = (name: string, namespace: string, data: Record<string, string> = { 'tls.crt': CRT, 'tls.key': KEY }): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'kubernetes.io/tls', data }) as KubeObject;
const svc = (name: string, namespace: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { clusterIP: '10.96.0.9', ports: [{ port: 9080 }], selector: { app: name } } });

function gateway(listeners: unknown[]): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name: 'bookinfo-gateway', namespace: 'istio-system', uid: 'gw-uid', generation: 3 }, spec: { gatewayClassName: 'istio', listeners } } as Gateway;
}

function route(name: string, namespace: string, spec: Record<string, unknown>, kind = 'HTTPRoute'): KubeObject {
  return { apiVersion: `${GW}/v1`, kind, metadata: { name, namespace, generation: 7 }, spec } as KubeObject;
}

const parent = (extra: Record<string, unknown> = {}) => ({ name: 'bookinfo-gateway', namespace: 'istio-system', ...extra });
const backend = (name: string, namespace?: string) => ({ rules: [{ backendRefs: [{ name, port: 9080, ...(namespace ? { namespace } : {}) }] }] });

function input(gw: Gateway, more: Partial<MeshInput> = {}): MeshInput {
  return {
    pods: [],
    services: [svc('productpage', 'default') as never, svc('reviews', 'other') as never],
    namespaces: [ns('default'), ns('istio-system'), ns('other', { team: 'b' })],
    gateways: [gw],
    gatewayClasses: [],
    ...more,
  };
}

const HTTP = { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } };
const HTTPS = { name: 'https', port: 443, protocol: 'HTTPS', hostname: 'bookinfo.example.com', allowedRoutes: { namespaces: { from: 'All' } }, tls: { certificateRefs: [{ name: 'bookinfo-cert' }] } };

test('the walkthrough gateway: role ingress, one listener with the route accepted on it, its identity, the route in resources', (t) => {
  const r = route('bookinfo', 'default', { parentRefs: [parent()], rules: [{ matches: [{ path: { type: 'Exact', value: '/productpage' } }], backendRefs: [{ name: 'productpage', port: 9080 }] }] });
  const model = buildMesh(input(gateway([HTTP]), { httpRoutes: [r] }));
  const cfg = model.waypoints.get('istio-system/bookinfo-gateway');
  t.truthy(cfg);
  t.is(cfg!.waypoint.role, 'ingress');
  t.deepEqual(cfg!.waypoint.listeners, [{ name: 'http', parent: { group: GW, namespace: 'istio-system', name: 'bookinfo-gateway' }, port: 80, targetPort: 80, protocol: 'HTTP', routes: ['HTTPRoute.gateway.networking.k8s.io/default/bookinfo'] }]);
  t.deepEqual(cfg!.resources.map(resourceKey), ['HTTPRoute.gateway.networking.k8s.io/default/bookinfo']);
  t.deepEqual(model.identities.get('istio-system/bookinfo-gateway'), { serviceAccount: 'bookinfo-gateway-istio', gatewayUid: 'gw-uid' });
  t.true(cfg!.services.some((s) => s.hostname === 'productpage.default.svc.cluster.local'), 'the mesh it forwards into');
});

test('a GRPCRoute on an ingress listener: sent in the listener\'s routes and resources, Accepted with ResolvedRefs; ingress routes of both kinds side by side', (t) => {
  const g = route('echo', 'default', { parentRefs: [parent({ sectionName: 'http' })], rules: [{ matches: [{ method: { service: 'echo.Echo', method: 'Get' } }], backendRefs: [{ name: 'productpage', port: 9080 }] }] }, 'GRPCRoute');
  const h = route('bookinfo', 'default', { parentRefs: [parent()], ...backend('productpage') });
  const inp = input(gateway([HTTP]), { httpRoutes: [h], grpcRoutes: [g] });
  const cfg = buildMesh(inp).waypoints.get('istio-system/bookinfo-gateway');
  t.deepEqual(cfg!.waypoint.listeners?.[0]?.routes, ['GRPCRoute.gateway.networking.k8s.io/default/echo', 'HTTPRoute.gateway.networking.k8s.io/default/bookinfo']);
  t.deepEqual(cfg!.resources.map(resourceKey), ['GRPCRoute.gateway.networking.k8s.io/default/echo', 'HTTPRoute.gateway.networking.k8s.io/default/bookinfo']);
  t.deepEqual(
    ingressRouteParentStatuses(g, inp)[0]!.conditions.map(({ type, status, reason }) => ({ type, status, reason })),
    [
      { type: 'Accepted', status: 'True', reason: 'Accepted' },
      { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs' },
    ],
  );
});

test('HTTPS: the certificate reaches the listener as PEM; a listener whose Secret is missing is not sent, the others are', (t) => {
  const missing = { ...HTTPS, name: 'https-missing', hostname: 'missing.example.com', tls: { certificateRefs: [{ name: 'nope' }] } };
  const model = buildMesh(input(gateway([HTTP, HTTPS, missing]), { secrets: [secret('bookinfo-cert', 'istio-system')] }));
  const ls = model.waypoints.get('istio-system/bookinfo-gateway')!.waypoint.listeners!;
  t.deepEqual(ls.map((l) => l.name), ['http', 'https']);
  const https = ls.find((l) => l.name === 'https')!;
  t.deepEqual(https.hostnames, ['bookinfo.example.com']);
  t.is(https.tls!.mode, 'Terminate');
  t.deepEqual(https.tls!.certificates, [{ certChain: Buffer.from(CRT, 'base64').toString(), privateKey: Buffer.from(KEY, 'base64').toString() }]);
  t.regex(https.tls!.certificates[0]!.certChain, /^-----BEGIN CERTIFICATE-----/);
});

test('a Secret in another namespace is used only with a ReferenceGrant from Gateways of the gateway namespace', (t) => {
  const cross = { ...HTTPS, tls: { certificateRefs: [{ name: 'shared', namespace: 'certs' }] } };
  const without = buildMesh(input(gateway([cross]), { secrets: [secret('shared', 'certs')] }));
  t.deepEqual(without.waypoints.get('istio-system/bookinfo-gateway')!.waypoint.listeners, []);
  const grant = { apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'certs' }, spec: { from: [{ group: GW, kind: 'Gateway', namespace: 'istio-system' }], to: [{ group: '', kind: 'Secret' }] } };
  const withGrant = buildMesh(input(gateway([cross]), { secrets: [secret('shared', 'certs')], referenceGrants: [grant] }));
  t.is(withGrant.waypoints.get('istio-system/bookinfo-gateway')!.waypoint.listeners![0]!.tls!.certificates.length, 1);
});

test('a Secret that is not a TLS pair is refused without its contents in the reason', (t) => {
  const bad = certificateOf(secret('x', 'default', { 'tls.crt': Buffer.from('not a certificate').toString('base64'), 'tls.key': KEY }));
  t.is(typeof bad, 'string');
  t.regex(bad as string, /the certificate is malformed/);
  t.false((bad as string).includes('PRIVATE KEY'));
  t.regex(certificateOf(secret('y', 'default', { 'tls.crt': CRT })) as string, /expected keys/);
});

test('attachment: sectionName, port, hostnames and allowedRoutes decide the listeners; cross-namespace backends bring their ReferenceGrant', (t) => {
  const same = { ...HTTP, name: 'same', port: 8080, allowedRoutes: { namespaces: { from: 'Same' } } };
  const selector = { ...HTTP, name: 'sel', port: 8081, allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'b' } } } } };
  const gw = gateway([HTTP, HTTPS, same, selector]);
  const toHttps = route('h', 'default', { parentRefs: [parent({ sectionName: 'https' })], hostnames: ['bookinfo.example.com'], ...backend('productpage') });
  const fromOther = route('o', 'other', { parentRefs: [parent()], hostnames: ['*.example.com'], ...backend('reviews') });
  const crossNs = route('x', 'default', { parentRefs: [parent({ port: 80 })], ...backend('reviews', 'other') });
  const grant = { apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'rg', namespace: 'other' }, spec: { from: [{ group: GW, kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: '', kind: 'Service' }] } };
  const inp = input(gw, { httpRoutes: [toHttps, fromOther, crossNs], secrets: [secret('bookinfo-cert', 'istio-system')], referenceGrants: [grant] });
  const cfg = buildMesh(inp).waypoints.get('istio-system/bookinfo-gateway')!;
  const routesOf = (name: string) => cfg.waypoint.listeners!.find((l) => l.name === name)!.routes.map((k) => k.split('/').slice(1).join('/'));
  t.deepEqual(routesOf('http'), ['default/x', 'other/o']);
  t.deepEqual(routesOf('https'), ['default/h', 'other/o']);
  t.deepEqual(routesOf('same'), [], 'from Same: the gateway namespace only');
  t.deepEqual(routesOf('sel'), ['other/o']);
  t.true(cfg.resources.some((o) => o.kind === 'ReferenceGrant' && o.metadata.name === 'rg'));
  t.deepEqual([...ingressAttachedRoutes(gw, inp)], [['http', 2], ['https', 2], ['same', 0], ['sel', 1]]);
});

test('route status on an ingress parent: Accepted, and each reason a parentRef is refused', (t) => {
  const gw = gateway([HTTP, { ...HTTPS, allowedRoutes: { namespaces: { from: 'Same' } } }]);
  const inp = input(gw, { secrets: [secret('bookinfo-cert', 'istio-system')] });
  const status = (spec: Record<string, unknown>, namespace = 'default') => ingressRouteParentStatuses(route('r', namespace, spec), inp);
  const ok = status({ parentRefs: [parent()], ...backend('productpage') });
  t.is(ok.length, 1);
  t.is(ok[0]!.controllerName, 'istio.io/gateway-controller');
  t.deepEqual(ok[0]!.conditions, [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid', observedGeneration: 7 },
    { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved', observedGeneration: 7 },
  ]);
  t.like(status({ parentRefs: [parent({ port: 8443 })], ...backend('productpage') })[0]!.conditions[0], { status: 'False', reason: 'NoMatchingParent', message: 'port 8443 not found' });
  t.like(status({ parentRefs: [parent({ sectionName: 'nope' })], ...backend('productpage') })[0]!.conditions[0], { status: 'False', reason: 'NoMatchingParent', message: 'sectionName "nope" not found' });
  t.like(status({ parentRefs: [parent({ sectionName: 'https' })], hostnames: ['other.example.org'], ...backend('productpage') })[0]!.conditions[0], {
    status: 'False',
    reason: 'NoMatchingListenerHostname',
    message: 'no hostnames matched parent hostname "bookinfo.example.com"',
  });
  t.like(status({ parentRefs: [parent({ sectionName: 'https' })], ...backend('productpage') })[0]!.conditions[0], { status: 'False', reason: 'NotAllowedByListeners' });
  t.like(ingressRouteParentStatuses(route('g', 'default', { parentRefs: [parent({ sectionName: 'http' })] }, 'TCPRoute'), inp)[0]?.conditions[0], { status: 'False', reason: 'NotAllowedByListeners' });
});

test('route status on an ingress parent: ResolvedRefs BackendNotFound, RefNotPermitted (no ReferenceGrant across namespaces) and InvalidKind', (t) => {
  const inp = input(gateway([HTTP]));
  const rr = (spec: Record<string, unknown>) => ingressRouteParentStatuses(route('r', 'default', { parentRefs: [parent()], ...spec }), inp)[0]!.conditions[1];
  t.like(rr(backend('ghost')), { status: 'False', reason: 'BackendNotFound', message: 'backend(ghost.default.svc.cluster.local) not found' });
  t.like(rr(backend('reviews', 'other')), { status: 'False', reason: 'RefNotPermitted', message: 'backendRef reviews/other not accessible to a HTTPRoute in namespace "default" (missing a ReferenceGrant?)' });
  t.like(rr({ rules: [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }] }] }), { status: 'False', reason: 'InvalidKind' });
});

test('a Gateway of another class gets no ingress config and its routes no istio.io/gateway-controller entries', (t) => {
  const gw = { ...gateway([HTTP]), spec: { gatewayClassName: 'nginx', listeners: [HTTP] } } as Gateway;
  const r = route('r', 'default', { parentRefs: [parent()], ...backend('productpage') });
  const inp = input(gw, { httpRoutes: [r], gatewayClasses: [{ apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: 'nginx' }, spec: { controllerName: 'nginx.org/gateway' } } as never] });
  t.false(buildMesh(inp).waypoints.has('istio-system/bookinfo-gateway'));
  t.deepEqual(ingressRouteParentStatuses(r, inp), []);
});
