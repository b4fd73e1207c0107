// The Istio API's ingress: networking.istio.io Gateways selecting the installed istio-ingressgateway become its
// IngressListeners (ports, target ports, protocols, hosts, TLS from credentialName Secrets), with the
// VirtualServices bound by `gateways:` as their routes; and only the ingress's own pods may read that config.
import test from 'ava';
import { validateConfig } from '@ambit/mesh-api';
import { buildMesh, type MeshInput } from '../src/mesh/index.js';
import { AuthError, staticPodLookup, type Caller } from '../src/ca/index.js';
import { streamAuthorizer, type ServiceAccountLookup } from '../src/push/index.js';
import type { KubeObject } from '../src/kube/resources.js';
import { pod } from './ca-fixtures.js';

const INGRESS_LABELS = { app: 'istio-ingressgateway', istio: 'ingressgateway' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

const ingressService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
  spec: {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.50',
    selector: INGRESS_LABELS,
    ports: [
      { name: 'status-port', port: 15021, targetPort: 15021 },
      { name: 'http2', port: 80, targetPort: 8080 },
      { name: 'https', port: 443, targetPort: 8443 },
    ],
  },
};
const ingressPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'istio-ingressgateway-1', namespace: 'istio-system', labels: { ...INGRESS_LABELS, 'istio.io/dataplane-mode': 'none' } },
  spec: { serviceAccountName: 'istio-ingressgateway-service-account', nodeName: 'n1' },
  status: { phase: 'Running', podIP: '10.244.1.9', conditions: [{ type: 'Ready', status: 'True' }] },
};
const gateway = (name: string, ns: string, servers: unknown[], selector: Record<string, string> = { istio: 'ingressgateway' }, version = 'v1'): KubeObject =>
  ({ apiVersion: `networking.istio.io/${version}`, kind: 'Gateway', metadata: { name, namespace: ns, creationTimestamp: `2026-01-0${name.length % 9}T00:00:00Z` }, spec: { selector, servers } }) as KubeObject;
const vs = (name: string, ns: string, hosts: string[], gateways: string[] | undefined, dest = 'productpage'): KubeObject =>
  ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts, ...(gateways ? { gateways } : {}), http: [{ route: [{ destination: { host: dest, port: { number: 9080 } } }] }] } }) as KubeObject;
const secret = (name: string, type: string, data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'istio-system' }, type, data } as KubeObject);

function model(extra: Partial<MeshInput>) {
  return buildMesh({ pods: [ingressPod as never], services: [ingressService as never], namespaces: [], gateways: [], gatewayClasses: [], ...extra });
}
const ingressOf = (m: ReturnType<typeof model>) => m.waypoints.get('istio-system/istio-ingressgateway');

test('the Bookinfo gateway: port 80 served on 8080, the VirtualService naming it is its route, its DestinationRule comes along', (t) => {
  const dr = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'productpage', namespace: 'default' }, spec: { host: 'productpage' } } as KubeObject;
  const other = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'default' }, spec: { host: 'reviews' } } as KubeObject;
  const m = model({
    istioGateways: [gateway('bookinfo-gateway', 'default', [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }], { istio: 'ingressgateway' }, 'v1alpha3')],
    virtualServices: [vs('bookinfo', 'default', ['*'], ['bookinfo-gateway']), vs('mesh-only', 'default', ['productpage'], undefined), vs('elsewhere', 'default', ['*'], ['other-gateway'])],
    destinationRules: [dr, other],
  });
  const cfg = ingressOf(m)!;
  t.truthy(cfg);
  t.is(cfg.waypoint.role, 'ingress');
  t.is(cfg.waypoint.gatewayClassName, '');
  t.deepEqual(cfg.waypoint.listeners, [
    {
      name: 'default/bookinfo-gateway/0',
      parent: { group: 'networking.istio.io', namespace: 'default', name: 'bookinfo-gateway' },
      port: 80,
      targetPort: 8080,
      protocol: 'HTTP',
      routes: ['VirtualService.networking.istio.io/default/bookinfo'],
    },
  ]);
  t.deepEqual(cfg.resources.map((o) => `${o.kind}/${o.metadata.name}`), ['DestinationRule/productpage', 'VirtualService/bookinfo']);
  // The whole mesh travels with it (the ingress forwards into the mesh), and the config passes the wire checks.
  t.true(cfg.services.some((s) => s.hostname === 'istio-ingressgateway.istio-system.svc.cluster.local'));
  t.notThrows(() => validateConfig('waypoint', cfg));
  t.deepEqual(m.identities.get('istio-system/istio-ingressgateway'), { serviceAccount: 'istio-ingressgateway-service-account', podLabels: INGRESS_LABELS });
});

test('no ingress Service: no ingress config', (t) => {
  const m = buildMesh({ pods: [], services: [], namespaces: [], gateways: [], gatewayClasses: [], istioGateways: [gateway('g', 'default', [{ port: { number: 80, protocol: 'HTTP' }, hosts: ['*'] }])] });
  t.is(ingressOf(m), undefined);
});

test('only Gateways whose selector matches the ingress pods, from any namespace; hosts lose their namespace part', (t) => {
  const m = model({
    istioGateways: [
      gateway('a', 'team-a', [{ port: { number: 80, protocol: 'HTTP2' }, hosts: ['team-a/a.example.com', '*/shared.example.com'] }]),
      gateway('custom', 'default', [{ port: { number: 80, protocol: 'HTTP' }, hosts: ['*'] }], { istio: 'custom-gateway' }),
    ],
    virtualServices: [
      vs('mine', 'team-a', ['a.example.com'], ['a']),
      vs('bare-name-elsewhere', 'team-b', ['a.example.com'], ['a']), // "a" is team-b/a: another Gateway
      vs('qualified-wrong-ns', 'team-b', ['a.example.com'], ['team-a/a']), // team-a/a.example.com admits only team-a
      vs('shared', 'team-b', ['shared.example.com'], ['team-a/a']),
      vs('no-overlap', 'team-a', ['b.example.com'], ['a']),
    ],
  });
  const ls = ingressOf(m)!.waypoint.listeners!;
  t.deepEqual(ls.map((l) => l.name), ['team-a/a/0']);
  t.deepEqual(ls[0]!.hostnames, ['a.example.com', 'shared.example.com']);
  t.deepEqual(ls[0]!.routes, ['VirtualService.networking.istio.io/team-a/mine', 'VirtualService.networking.istio.io/team-b/shared']);
});

test('HTTPS SIMPLE terminates with the credentialName Secret (kubernetes.io/tls or Opaque cert/key); PASSTHROUGH passes TLS through', (t) => {
  const m = model({
    istioGateways: [
      gateway('tls', 'default', [
        { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['bookinfo.example.com'], tls: { mode: 'SIMPLE', credentialName: 'bookinfo-cert' } },
        { port: { number: 443, name: 'https-2', protocol: 'HTTPS' }, hosts: ['opaque.example.com'], tls: { mode: 'SIMPLE', credentialName: 'opaque-cert' } },
        { port: { number: 8443, name: 'tls', protocol: 'TLS' }, hosts: ['pass.example.com'], tls: { mode: 'PASSTHROUGH' } },
      ]),
    ],
    systemSecrets: [
      secret('bookinfo-cert', 'kubernetes.io/tls', { 'tls.crt': b64('CHAIN-1'), 'tls.key': b64('KEY-1') }),
      secret('opaque-cert', 'Opaque', { cert: b64('CHAIN-2'), key: b64('KEY-2') }),
    ],
  });
  const ls = ingressOf(m)!.waypoint.listeners!;
  t.deepEqual(
    ls.map((l) => [l.name, l.port, l.targetPort, l.protocol, l.tls]),
    [
      ['default/tls/0', 443, 8443, 'HTTPS', { mode: 'Terminate', certificates: [{ certChain: 'CHAIN-1', privateKey: 'KEY-1' }] }],
      ['default/tls/1', 443, 8443, 'HTTPS', { mode: 'Terminate', certificates: [{ certChain: 'CHAIN-2', privateKey: 'KEY-2' }] }],
      ['default/tls/2', 8443, 8443, 'TLS', { mode: 'Passthrough', certificates: [] }],
    ],
  );
});

test('a server whose credential is missing, unusable or the CA\'s own is left out and reported; the others stay', (t) => {
  const m = model({
    istioGateways: [
      gateway('g', 'default', [
        { port: { number: 80, protocol: 'HTTP' }, hosts: ['*'] },
        { port: { number: 443, protocol: 'HTTPS' }, hosts: ['*'], tls: { mode: 'SIMPLE', credentialName: 'missing' } },
        { port: { number: 443, protocol: 'HTTPS' }, hosts: ['*'], tls: { mode: 'SIMPLE', credentialName: 'istio-ca-secret' } },
        { port: { number: 443, protocol: 'HTTPS' }, hosts: ['*'], tls: { mode: 'MUTUAL', credentialName: 'x' } },
      ]),
    ],
    systemSecrets: [secret('istio-ca-secret', 'istio.io/ca-root', { 'ca-cert.pem': b64('ROOT'), 'ca-key.pem': b64('ROOT-KEY'), cert: b64('C'), key: b64('K') })],
  });
  t.deepEqual(ingressOf(m)!.waypoint.listeners!.map((l) => l.name), ['default/g/0']);
  const ws = m.warnings.filter((w) => w.object === 'Gateway.networking.istio.io default/g');
  t.deepEqual(ws.map((w) => w.reason), ['ReferencedResourceNotFound', 'InvalidGatewayCredential', 'UnsupportedValue']);
  t.regex(ws[0]!.message, /^server 1 \(port 443\): Referenced credentialName not found: "missing" \(Secret istio-system\/missing\)$/);
  t.false(JSON.stringify(ingressOf(m)).includes('ROOT-KEY'));
});

// ---- who may read it ---------------------------------------------------------------------------------------

const pods = [
  pod('istio-system', 'istio-ingressgateway-1', 'istio-ingressgateway-service-account', 'n1', { ...INGRESS_LABELS }),
  pod('istio-system', 'other-1', 'istio-ingressgateway-service-account', 'n1', { app: 'other' }),
  pod('default', 'lookalike', 'istio-ingressgateway-service-account', 'n1', { ...INGRESS_LABELS }),
];
const accounts: Record<string, { ownerReferences: Array<{ apiVersion: string; kind: string; name: string; uid: string }> }> = {
  'istio-system/istio-ingressgateway-service-account': { ownerReferences: [] },
};
const serviceAccounts: ServiceAccountLookup = { getServiceAccount: async (ns, name) => accounts[`${ns}/${name}`] };
const authorize = streamAuthorizer({ pods: staticPodLookup(() => pods), serviceAccounts });
const caller = (ns: string, podName: string, sa = 'istio-ingressgateway-service-account'): Caller => ({ namespace: ns, serviceAccount: sa, podName, podUid: `uid-${podName}` });
const req = { kind: 'waypoint' as const, waypoint: 'istio-system/istio-ingressgateway', identity: { serviceAccount: 'istio-ingressgateway-service-account', podLabels: INGRESS_LABELS } };

async function refused(t: import('ava').ExecutionContext, p: Promise<void>, message: RegExp) {
  const err = await t.throwsAsync(p, { instanceOf: AuthError });
  t.is(err!.status, 403);
  t.regex(err!.message, message);
}

test("the ingress's own pod gets its config", async (t) => {
  await t.notThrowsAsync(authorize(caller('istio-system', 'istio-ingressgateway-1'), req));
});

test('an application pod with the same labels and account name in another namespace is refused', async (t) => {
  await refused(
    t,
    authorize(caller('default', 'lookalike'), req),
    /^default\/istio-ingressgateway-service-account may not receive the config of ingress gateway istio-system\/istio-ingressgateway: another namespace \(it runs in istio-system\)$/,
  );
});

test('in the system namespace: another account, a pod without its labels, or an account a Gateway owns are refused', async (t) => {
  await refused(t, authorize(caller('istio-system', 'istio-ingressgateway-1', 'istiod'), req), /the ingress gateway runs as istio-system\/istio-ingressgateway-service-account$/);
  await refused(t, authorize(caller('istio-system', 'other-1'), req), /pod istio-system\/other-1 is not one of its pods \(labels app=istio-ingressgateway, istio=ingressgateway\)$/);
  await refused(t, authorize(caller('istio-system', 'gone'), req), /pod istio-system\/gone is not running/);
  const owned = streamAuthorizer({
    pods: staticPodLookup(() => pods),
    serviceAccounts: { getServiceAccount: async () => ({ ownerReferences: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'sneaky', uid: 'u' }] }) },
  });
  await refused(t, owned(caller('istio-system', 'istio-ingressgateway-1'), req), /belongs to Gateway istio-system\/sneaky, not to the installed ingress gateway$/);
});
