// TLSRoutes on class istio (ingress) Gateways: which TLS passthrough listeners take them (SNI hostnames against the
// listener's, allowedRoutes, sectionName), what the gateway is sent, the istio.io/gateway-controller parent entries
// (Accepted and ResolvedRefs with each refusal reason) written to tlsroutes/status, the listeners' attachedRoutes,
// and the TLS listeners the gateway refuses (mode Terminate) or narrows (kinds it does not serve).
import test from 'ava';
import { resourceKey } from '@ambit/mesh-api';
import { KubeClient } from '../src/kube/client.js';
import { buildMesh } from '../src/mesh/build.js';
import type { Gateway, MeshInput } from '../src/mesh/input.js';
import type { KubeObject } from '../src/kube/resources.js';
import { resolveIngressListeners } from '../src/gateway/ingress-listeners.js';
import { ingressAttachedRoutes, ingressRouteParentStatuses } from '../src/status/ingress-routes.js';
import { StatusWriter } from '../src/status/writer.js';
import { FakeApiServer } from './fake-apiserver.js';

const GW = 'gateway.networking.k8s.io';
const INFRA = 'gateway-conformance-infra';
const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const svc = (name: string, namespace = INFRA): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { clusterIP: '10.96.0.9', ports: [{ port: 443 }], selector: { app: name } } });

function gateway(name: string, listeners: unknown[]): Gateway {
  return { apiVersion: `${GW}/v1`, kind: 'Gateway', metadata: { name, namespace: INFRA, generation: 2 }, spec: { gatewayClassName: 'istio', listeners } } as Gateway;
}

function tlsRoute(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: `${GW}/v1`, kind: 'TLSRoute', metadata: { name, namespace: INFRA, generation: 5 }, spec } as KubeObject;
}

const passthrough = (hostname?: string, extra: Record<string, unknown> = {}) => ({
  name: 'tls',
  port: 443,
  protocol: 'TLS',
  ...(hostname ? { hostname } : {}),
  allowedRoutes: { namespaces: { from: 'Same' }, kinds: [{ kind: 'TLSRoute' }] },
  tls: { mode: 'Passthrough' },
  ...extra,
});

function input(gateways: Gateway[], tlsRoutes: KubeObject[], more: Partial<MeshInput> = {}): MeshInput {
  return {
    pods: [],
    services: [svc('tls-backend'), svc('tls-backend-2'), svc('tls-backend', 'gateway-conformance-app-backend')] as MeshInput['services'],
    namespaces: [ns(INFRA), ns('gateway-conformance-app-backend')] as MeshInput['namespaces'],
    gateways,
    gatewayClasses: [],
    tlsRoutes,
    ...more,
  };
}

const conds = (route: KubeObject, inp: MeshInput) =>
  ingressRouteParentStatuses(route, inp).map((p) => ({ parentRef: p.parentRef, conditions: p.conditions.map(({ type, status, reason }) => ({ type, status, reason })) }));

test('a TLSRoute on a passthrough listener: sent in the listener\'s routes and resources, Accepted and ResolvedRefs, counted in attachedRoutes', (t) => {
  const gw = gateway('gateway-tlsroute', [passthrough('*.example.com', { name: 'https' })]);
  const r = tlsRoute('gateway-conformance-infra-test', { parentRefs: [{ name: 'gateway-tlsroute', namespace: INFRA }], hostnames: ['abc.example.com'], rules: [{ backendRefs: [{ name: 'tls-backend', port: 443 }] }] });
  const inp = input([gw], [r]);
  const cfg = buildMesh(inp).waypoints.get(`${INFRA}/gateway-tlsroute`);
  t.deepEqual(cfg?.waypoint.listeners?.map((l) => [l.name, l.protocol, l.hostnames, l.tls?.mode, l.routes]), [['https', 'TLS', ['*.example.com'], 'Passthrough', [`TLSRoute.${GW}/${INFRA}/gateway-conformance-infra-test`]]]);
  t.deepEqual(cfg?.resources.map(resourceKey), [`TLSRoute.${GW}/${INFRA}/gateway-conformance-infra-test`]);
  t.deepEqual(conds(r, inp), [
    {
      parentRef: { name: 'gateway-tlsroute', namespace: INFRA },
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted' },
        { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs' },
      ],
    },
  ]);
  t.deepEqual([...ingressAttachedRoutes(gw, inp)], [['https', 1]]);
});

test('hostname intersection: a route attaches where its hostnames and the listener\'s intersect, both ways, and is refused NoMatchingListenerHostname where none does', (t) => {
  const cases: Array<[string | undefined, string[], boolean]> = [
    ['abc.example.com', ['*.example.com'], true],
    ['*.example.com', ['abc.example.com'], true],
    ['*.example.com', ['*.com'], true],
    ['*.com', ['*.example.com'], true],
    [undefined, ['*.com'], true],
    ['abc.example.com', [], true],
    ['abc.example.com', ['def.example.com'], false],
    ['*.example.com', ['*.example.net', 'example.com'], false],
  ];
  for (const [listenerHost, hostnames, attaches] of cases) {
    const gw = gateway('gw', [passthrough(listenerHost)]);
    const r = tlsRoute('r', { parentRefs: [{ name: 'gw' }], hostnames, rules: [{ backendRefs: [{ name: 'tls-backend', port: 443 }] }] });
    const inp = input([gw], [r]);
    const what = `listener ${listenerHost ?? '(none)'}, route ${hostnames.join(',') || '(none)'}`;
    t.like(conds(r, inp)[0]?.conditions[0], attaches ? { status: 'True', reason: 'Accepted' } : { status: 'False', reason: 'NoMatchingListenerHostname' }, what);
    t.is(ingressAttachedRoutes(gw, inp).get('tls'), attaches ? 1 : 0, what);
    t.is(buildMesh(inp).waypoints.get(`${INFRA}/gw`)?.waypoint.listeners?.[0]?.routes.length, attaches ? 1 : 0, what);
  }
});

test('no matching listener: a TLSRoute on an HTTP or HTTPS listener is NotAllowedByListeners, an unknown sectionName NoMatchingParent; nothing attached', (t) => {
  const http = gateway('gateway-tlsroute-http-only', [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } }]);
  const tlsOnly = gateway('gateway-tlsroute-tls-passthrough-only', [{ ...passthrough(), name: 'tls-passthrough', allowedRoutes: { namespaces: { from: 'Same' } } }]);
  const backend = { hostnames: ['tls.example.com'], rules: [{ backendRefs: [{ name: 'tls-backend', port: 443 }] }] };
  const onHttp = tlsRoute('tlsroute-not-allowed-protocol-http', { parentRefs: [{ name: 'gateway-tlsroute-http-only' }], ...backend });
  const onSection = tlsRoute('tlsroute-no-matching-section-name', { parentRefs: [{ name: 'gateway-tlsroute-tls-passthrough-only', sectionName: 'nonexistent-listener' }], ...backend });
  const inp = input([http, tlsOnly], [onHttp, onSection]);
  t.like(conds(onHttp, inp)[0]?.conditions[0], { type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners' });
  t.like(conds(onSection, inp)[0]?.conditions[0], { type: 'Accepted', status: 'False', reason: 'NoMatchingParent' });
  t.deepEqual([...ingressAttachedRoutes(http, inp)], [['http', 0]]);
  t.deepEqual([...ingressAttachedRoutes(tlsOnly, inp)], [['tls-passthrough', 0]]);
  const model = buildMesh(inp);
  t.deepEqual(model.waypoints.get(`${INFRA}/gateway-tlsroute-http-only`)?.waypoint.listeners?.[0]?.routes, []);
  t.deepEqual(model.waypoints.get(`${INFRA}/gateway-tlsroute-tls-passthrough-only`)?.resources, []);
});

test('ResolvedRefs of a TLSRoute: BackendNotFound, InvalidKind, RefNotPermitted without a matching ReferenceGrant, True with one; still Accepted', (t) => {
  const gw = gateway('gw', [passthrough('*.example.com')]);
  const to = (ref: Record<string, unknown>) => tlsRoute('r', { parentRefs: [{ name: 'gw' }], hostnames: ['abc.example.com'], rules: [{ backendRefs: [{ port: 443, ...ref }] }] });
  const grant = (from: Record<string, unknown>, toRef: Record<string, unknown>, namespace = 'gateway-conformance-app-backend'): KubeObject =>
    ({ apiVersion: `${GW}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace }, spec: { from: [{ group: GW, kind: 'TLSRoute', namespace: INFRA, ...from }], to: [{ group: '', kind: 'Service', ...toRef }] } }) as KubeObject;
  const cross = { name: 'tls-backend', namespace: 'gateway-conformance-app-backend' };
  const cases: Array<[Record<string, unknown>, KubeObject[], string]> = [
    [{ name: 'nonexistent-backend' }, [], 'BackendNotFound'],
    [{ name: 'tls-backend', group: 'unknownkind.example.com', kind: 'NonExistent' }, [], 'InvalidKind'],
    [cross, [], 'RefNotPermitted'],
    [cross, [grant({}, { name: 'tls-backend' }, INFRA)], 'RefNotPermitted'],
    [cross, [grant({ kind: 'Gateway' }, { name: 'tls-backend' })], 'RefNotPermitted'],
    [cross, [grant({ namespace: 'elsewhere' }, { name: 'tls-backend' })], 'RefNotPermitted'],
    [cross, [grant({}, { kind: 'Secret', name: 'tls-backend' })], 'RefNotPermitted'],
    [cross, [grant({}, { name: 'not-this-one' })], 'RefNotPermitted'],
    [cross, [grant({}, { name: 'tls-backend' })], 'ResolvedRefs'],
  ];
  for (const [ref, grants, reason] of cases) {
    const r = to(ref);
    const c = conds(r, input([gw], [r], { referenceGrants: grants }))[0]?.conditions;
    t.like(c?.[0], { type: 'Accepted', status: 'True' }, JSON.stringify(ref));
    t.like(c?.[1], { type: 'ResolvedRefs', status: reason === 'ResolvedRefs' ? 'True' : 'False', reason }, `${JSON.stringify(ref)} ${JSON.stringify(grants.map((g) => (g as { spec?: unknown }).spec))}`);
  }
});

test('TLS listeners: mode Terminate is refused (Accepted False UnsupportedValue, no supportedKinds, not served); Passthrough asked for TCPRoute too keeps TLSRoute with InvalidRouteKinds', (t) => {
  const gw = gateway('gw', [
    { name: 'tls-terminate', port: 8443, protocol: 'TLS', hostname: 'terminate.example.com', allowedRoutes: { kinds: [{ kind: 'TLSRoute' }] }, tls: { mode: 'Terminate', certificateRefs: [{ name: 'cert' }] } },
    { ...passthrough(), name: 'tls-passthrough', allowedRoutes: { namespaces: { from: 'Same' }, kinds: [{ kind: 'TCPRoute' }, { kind: 'TLSRoute' }] } },
  ]);
  const [terminate, pass] = resolveIngressListeners(gw, { secrets: [], referenceGrants: [] });
  t.like(terminate!.conditions.find((c) => c.type === 'Accepted'), { status: 'False', reason: 'UnsupportedValue' });
  t.deepEqual(terminate!.supportedKinds, []);
  t.false(terminate!.accepted);
  t.is(terminate!.ingress, undefined);
  t.like(pass!.conditions.find((c) => c.type === 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.like(pass!.conditions.find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'InvalidRouteKinds' });
  t.deepEqual(pass!.supportedKinds, [{ group: GW, kind: 'TLSRoute' }]);
  // A TLSRoute naming the refused listener is not attached to it.
  const r = tlsRoute('r', { parentRefs: [{ name: 'gw', sectionName: 'tls-terminate' }], rules: [{ backendRefs: [{ name: 'tls-backend', port: 443 }] }] });
  t.like(conds(r, input([gw], [r]))[0]?.conditions[0], { status: 'False', reason: 'NoMatchingParent' });
});

test('the status writer puts the ingress entries of a TLSRoute to tlsroutes/status, at the version it was read as', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  t.teardown(() => api.stop());
  const gw = gateway('gw', [passthrough('*.example.com')]);
  const r = { ...tlsRoute('r', { parentRefs: [{ name: 'gw' }], hostnames: ['abc.example.com'], rules: [{ backendRefs: [{ name: 'missing', port: 443 }] }] }), apiVersion: `${GW}/v1alpha2` };
  api.put(`/apis/${GW}/v1alpha2/namespaces/${INFRA}/tlsroutes`, structuredClone(r) as never);
  const inp = input([gw], [r]);
  await new StatusWriter({ client }).sync(buildMesh(inp), inp);
  t.true(api.requests.includes(`PUT /apis/${GW}/v1alpha2/namespaces/${INFRA}/tlsroutes/r/status`), api.requests.join('\n'));
  const parents = (api.get(`/apis/${GW}/v1alpha2/namespaces/${INFRA}/tlsroutes`, 'r') as { status?: { parents?: Array<{ controllerName: string; conditions: Array<Record<string, unknown>> }> } }).status?.parents ?? [];
  t.is(parents.length, 1);
  t.is(parents[0]!.controllerName, 'istio.io/gateway-controller');
  t.deepEqual(parents[0]!.conditions.map(({ type, status, reason, observedGeneration }) => ({ type, status, reason, observedGeneration })), [
    { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 5 },
    { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', observedGeneration: 5 },
  ]);
});
