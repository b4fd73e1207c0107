// `ambit install --set components.ingressGateways[0].enabled=true --set components.ingressGateways[0].name=
// istio-ingressgateway`: the values parsed and checked, the objects it adds (istioctl's names, labels and ports, the
// waypoint image run as a waypoint is), istioctl's component lines in the output, and uninstall removing them.
import test from 'ava';
import { install, manifests, uninstall } from '../src/install/install.js';
import { InstallValuesError, parseInstallValues } from '../src/install/values.js';
import { VERSION } from '../src/install/version.js';
import { renderWaypoint, type Gateway } from '../src/gateway/index.js';
import type { KubeClient } from '../src/kube/client.js';
import type { KubeObject, ResourceType } from '../src/kube/resources.js';

const ENABLE = ['components.ingressGateways[0].enabled=true', 'components.ingressGateways[0].name=istio-ingressgateway'];

interface Container {
  name: string;
  image: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  ports?: Array<{ containerPort: number; name: string }>;
  securityContext?: unknown;
  readinessProbe?: unknown;
  volumeMounts?: unknown;
}
interface DeploymentSpec {
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; containers: Container[]; volumes: unknown } };
}
interface ServiceSpec {
  type: string;
  selector: Record<string, string>;
  ports: Array<{ name: string; port: number; targetPort: number; protocol: string }>;
}
const find = (objs: KubeObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const ingressOf = (objs: KubeObject[]) => objs.filter((o) => o.metadata.namespace === 'istio-system' && /^istio-ingressgateway/.test(o.metadata.name!));

// ---- values ---------------------------------------------------------------------------------------------------

test("istioctl's ingressGateways[0] keys enable the ingress gateway", (t) => {
  t.deepEqual(parseInstallValues({ set: ENABLE }), { ingressGateway: { enabled: true, name: 'istio-ingressgateway' } });
  t.deepEqual(parseInstallValues({ set: [ENABLE[0]!] }), { ingressGateway: { enabled: true, name: 'istio-ingressgateway' } }, 'the name defaults as in istioctl');
  t.deepEqual(parseInstallValues({ set: ['components.ingressGateways[0].enabled=false'] }), { ingressGateway: { enabled: false, name: 'istio-ingressgateway' } });
  t.deepEqual(parseInstallValues({ set: [ENABLE[1]!] }), { ingressGateway: { enabled: false, name: 'istio-ingressgateway' } }, 'a name alone enables nothing');
});

function fails(t: import('ava').ExecutionContext, set: string[], message: RegExp): void {
  const err = t.throws(() => parseInstallValues({ set }), { instanceOf: InstallValuesError });
  t.regex(err!.message, message);
  t.false(err!.message.includes('\n'), 'one line');
}

test('a bad ingress value is one line naming the flag and the fix', (t) => {
  fails(t, ['components.ingressGateways[0].enabled=maybe'], /^--set components\.ingressGateways\[0\]\.enabled=maybe: "maybe" is not a boolean: use true or false$/);
  fails(t, ['components.ingressGateways[0].name=my-gateway'], /^--set components\.ingressGateways\[0\]\.name=my-gateway: "my-gateway" is not supported: ambit install installs one ingress gateway, named istio-ingressgateway$/);
  fails(t, ['components.ingressGateways[1].enabled=true'], /^--set components\.ingressGateways\[1\]\.enabled=true: ambit install installs one ingress gateway: use components\.ingressGateways\[0\]\.enabled and components\.ingressGateways\[0\]\.name$/);
  fails(t, ['components.ingressGateways[0].enabled=true', 'components.ingressGateways[0].enabled=false'], /contradicts --set components\.ingressGateways\[0\]\.enabled=true: give the value once$/);
});

// ---- the rendered objects ------------------------------------------------------------------------------------

test('without the ingress values nothing of the ingress gateway is installed', (t) => {
  t.deepEqual(ingressOf(manifests(undefined, {}).objects), []);
  t.deepEqual(ingressOf(manifests(undefined, parseInstallValues({ set: ['components.ingressGateways[0].enabled=false'] })).objects), []);
});

test("the ingress gateway: istioctl's ServiceAccount, Deployment and LoadBalancer Service, between CNI and ztunnel", (t) => {
  const { objects } = manifests(undefined, parseInstallValues({ set: ENABLE }));
  t.deepEqual(
    ingressOf(objects).map((o) => `${o.kind}/${o.metadata.name}`),
    ['ServiceAccount/istio-ingressgateway-service-account', 'Deployment/istio-ingressgateway', 'Service/istio-ingressgateway'],
  );
  const at = (kind: string, name: string) => objects.findIndex((o) => o.kind === kind && o.metadata.name === name);
  t.true(at('DaemonSet', 'istio-cni-node') < at('ServiceAccount', 'istio-ingressgateway-service-account'));
  t.true(at('Service', 'istio-ingressgateway') < at('DaemonSet', 'ztunnel'));

  const dep = find(objects, 'Deployment', 'istio-ingressgateway')!;
  const spec = dep.spec as DeploymentSpec;
  t.deepEqual(spec.selector.matchLabels, { app: 'istio-ingressgateway', istio: 'ingressgateway' });
  const labels = spec.template.metadata.labels;
  t.like(labels, {
    app: 'istio-ingressgateway',
    istio: 'ingressgateway',
    'istio.io/dataplane-mode': 'none',
    'sidecar.istio.io/inject': 'false',
    'service.istio.io/canonical-name': 'istio-ingressgateway',
  });
  // Not a Gateway-owned deployment: the waypoint controller must neither adopt nor collect it.
  for (const l of ['gateway.networking.k8s.io/gateway-name', 'gateway.istio.io/managed']) {
    t.false(l in labels, l);
    t.false(l in (dep.metadata.labels ?? {}), l);
  }
  t.is(dep.metadata.ownerReferences, undefined);
  t.is(spec.template.spec.serviceAccountName, 'istio-ingressgateway-service-account');
  const c = spec.template.spec.containers[0]!;
  t.is(c.image, `ambit/waypoint:${VERSION}`);
  t.is(c.env!.find((e) => e.name === 'AMBIT_WAYPOINT')?.value, 'istio-system/istio-ingressgateway');
  t.deepEqual(
    c.ports!.map((p) => [p.name, p.containerPort]),
    [
      ['http2', 8080],
      ['https', 8443],
      ['metrics', 15020],
      ['status-port', 15021],
    ],
  );

  const svc = find(objects, 'Service', 'istio-ingressgateway')!.spec as ServiceSpec;
  t.is(svc.type, 'LoadBalancer');
  t.deepEqual(svc.selector, { app: 'istio-ingressgateway', istio: 'ingressgateway' });
  t.deepEqual(svc.ports, [
    { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
    { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
    { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
  ]);
});

test('the ingress runs the waypoint runtime exactly as a waypoint Deployment does (security, probes, volumes)', (t) => {
  const { objects } = manifests(undefined, parseInstallValues({ set: ENABLE }));
  const ingress = (find(objects, 'Deployment', 'istio-ingressgateway')!.spec as DeploymentSpec).template.spec;
  const gw: Gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'w', namespace: 'istio-system' }, spec: { gatewayClassName: 'istio-waypoint' } };
  const waypoint = (renderWaypoint(gw, { version: VERSION }).deployment.spec as DeploymentSpec).template.spec;
  const [a, b] = [ingress.containers[0]!, waypoint.containers[0]!];
  t.deepEqual(a.securityContext, b.securityContext);
  t.deepEqual(a.readinessProbe, b.readinessProbe);
  t.deepEqual(a.volumeMounts, b.volumeMounts);
  t.deepEqual(ingress.volumes, waypoint.volumes);
  t.deepEqual(a.env!.map((e) => e.name), b.env!.map((e) => e.name));
});

test('hub and tag move the ingress image with the others', (t) => {
  const { objects } = manifests(undefined, parseInstallValues({ hub: 'registry.example.com/ambit', tag: '9.9.9', set: ENABLE }));
  const c = (find(objects, 'Deployment', 'istio-ingressgateway')!.spec as DeploymentSpec).template.spec.containers[0]!;
  t.is(c.image, 'registry.example.com/ambit/waypoint:9.9.9');
});

// ---- install and uninstall against a recording client -------------------------------------------------------

function recordingClient() {
  const applied: string[] = [];
  const deleted: string[] = [];
  const client = {
    request: async () => ({}),
    // CRDs present (the Gateway CRD already serving v1alpha2), no namespace terminating, nothing else found.
    getOrUndefined: async (rt: ResourceType, _ns: string | undefined, name: string) =>
      rt.kind === 'CustomResourceDefinition' ? { metadata: { name }, spec: { versions: [{ name: 'v1alpha2', served: true }] } } : undefined,
    create: async () => ({ status: { allowed: true } }),
    apply: async (_rt: ResourceType, o: KubeObject) => {
      applied.push(`${o.kind}/${o.metadata.name}`);
      return o;
    },
    delete: async (rt: ResourceType, _ns: string | undefined, name: string) => {
      deleted.push(`${rt.kind}/${name}`);
      return rt.kind !== 'GatewayClass';
    },
    listAll: async () => ({ items: [] }),
  };
  return { client: client as unknown as KubeClient, applied, deleted };
}

test("install prints istioctl's component lines, Ingress gateways between CNI and Ztunnel", async (t) => {
  const { client, applied } = recordingClient();
  const lines: string[] = [];
  await install(client, { values: parseInstallValues({ set: ENABLE }), log: (l) => lines.push(l) });
  t.true(applied.includes('Deployment/istio-ingressgateway'));
  t.deepEqual(
    lines.filter((l) => l.startsWith('\u2714')),
    ['\u2714 Istio core installed', '\u2714 Istiod installed', '\u2714 CNI installed', '\u2714 Ingress gateways installed', '\u2714 Ztunnel installed', '\u2714 Installation complete'],
  );
  t.true(lines.includes('deployment/istio-ingressgateway -n istio-system applied'));
  t.is(lines.at(-1), `Ambit ${VERSION} installed`);
});

test('install without the ingress prints no Ingress gateways line and applies none of it', async (t) => {
  const { client, applied } = recordingClient();
  const lines: string[] = [];
  await install(client, { log: (l) => lines.push(l) });
  t.false(applied.some((a) => a.includes('istio-ingressgateway')));
  t.deepEqual(
    lines.filter((l) => l.startsWith('\u2714')),
    ['\u2714 Istio core installed', '\u2714 Istiod installed', '\u2714 CNI installed', '\u2714 Ztunnel installed', '\u2714 Installation complete'],
  );
});

test('uninstall removes the ingress gateway whatever install was given', async (t) => {
  const { client, deleted } = recordingClient();
  const lines: string[] = [];
  await uninstall(client, { log: (l) => lines.push(l) });
  for (const o of ['ServiceAccount/istio-ingressgateway-service-account', 'Deployment/istio-ingressgateway', 'Service/istio-ingressgateway']) t.true(deleted.includes(o), o);
  t.true(lines.includes('deployment/istio-ingressgateway -n istio-system deleted'));
  // In reverse of the install order: ztunnel first, then the ingress gateway.
  t.true(deleted.indexOf('Deployment/istio-ingressgateway') > deleted.indexOf('DaemonSet/ztunnel'));
});
