// A Gateway cannot run its waypoint as a ServiceAccount it does not own (issue 12): not the application's account
// named by `gateway.istio.io/service-account` or by the Gateway's own name, not another Gateway's.
import test from 'ava';
import { planGateway, type Gateway } from '../src/gateway/index.js';
import type { KubeObject } from '../src/kube/resources.js';

const gateway = (name: string, annotations: Record<string, string> = {}): Gateway =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: 'apps', uid: `uid-${name}`, generation: 1, annotations },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  }) as Gateway;

const sa = (name: string, labels: Record<string, string> = {}, owner?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace: 'apps', labels, ...(owner ? { ownerReferences: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: owner, uid: `uid-${owner}` }] } : {}) },
});

function plan(gw: Gateway, existing: KubeObject[]) {
  const p = planGateway({ gateway: gw, existing: new Map(existing.map((o) => [`${o.kind}/${o.metadata.name}`, o])), endpointSlices: [], render: { version: '0.1.0' }, now: '2024-01-01T00:00:00Z' });
  if (p.action !== 'reconcile') throw new Error(p.reason);
  const programmed = p.status.conditions!.find((c) => c.type === 'Programmed')!;
  const deployment = p.apply.find((o) => o.kind === 'Deployment') as { spec: { template: { spec: { serviceAccountName: string } } } } | undefined;
  return { applied: p.apply.map((o) => `${o.kind}/${o.metadata.name}`), programmed, runsAs: deployment?.spec.template.spec.serviceAccountName };
}

test("an override naming the application's existing ServiceAccount: the account is untouched and no Deployment runs as it", (t) => {
  const r = plan(gateway('waypoint', { 'gateway.istio.io/service-account': 'payments-api' }), [sa('payments-api')]);
  t.deepEqual(r.applied, ['Service/waypoint']);
  t.is(r.runsAs, undefined);
  t.is(r.programmed.status, 'False');
  t.regex(r.programmed.message, /^ServiceAccount apps\/payments-api already exists and is not managed by istio.io\/mesh-controller/);
});

test("a Gateway named like the application's account does not take that account over", (t) => {
  const r = plan(gateway('reviews'), [sa('reviews')]);
  t.deepEqual(r.applied, ['Service/reviews']);
  t.is(r.programmed.status, 'False');
});

test("an override naming another Gateway's ServiceAccount is refused, with the owner named", (t) => {
  const managed = { 'gateway.istio.io/managed': 'istio.io-mesh-controller' };
  const r = plan(gateway('intruder', { 'gateway.istio.io/service-account': 'waypoint' }), [sa('waypoint', { ...managed, 'gateway.networking.k8s.io/gateway-name': 'waypoint' }, 'waypoint')]);
  t.deepEqual(r.applied, ['Service/intruder']);
  t.is(r.programmed.status, 'False');
  t.is(r.programmed.message, "ServiceAccount apps/waypoint belongs to Gateway apps/waypoint; left untouched, and the waypoint does not run under another Gateway's objects");
});

test('its own managed ServiceAccount (or none yet) is applied and the waypoint runs as it', (t) => {
  const managed = { 'gateway.istio.io/managed': 'istio.io-mesh-controller', 'gateway.networking.k8s.io/gateway-name': 'waypoint' };
  for (const existing of [[], [sa('wp-sa', managed, 'waypoint')]]) {
    const r = plan(gateway('waypoint', { 'gateway.istio.io/service-account': 'wp-sa' }), existing);
    t.deepEqual(r.applied.sort(), ['Deployment/waypoint', 'Service/waypoint', 'ServiceAccount/wp-sa']);
    t.is(r.runsAs, 'wp-sa');
  }
});
