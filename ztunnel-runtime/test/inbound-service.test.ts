import test from 'ava';
import { MeshStore, type Service, type Workload } from '@ambit/mesh-api';
import { guessInboundService } from '../src/telemetry/inbound-service.js';

const svc = (name: string, ports: Record<string, number>): Service => ({ name, namespace: 'shop', hostname: `${name}.shop.svc.cluster.local`, vips: [], ports });
const pod: Workload = {
  uid: 'c//Pod/shop/api-1',
  name: 'api-1',
  namespace: 'shop',
  workloadIps: ['10.0.0.5'],
  serviceAccount: 'api',
  protocol: 'HBONE',
  services: { 'shop/api.shop.svc.cluster.local': { 80: 8080 }, 'shop/api-admin.shop.svc.cluster.local': { 9000: 8080, 9001: 9090 } },
};
const store = new MeshStore();
store.applyFull({ workloads: [pod], services: [svc('api', { 80: 8080 }), svc('api-admin', { 9000: 8080, 9001: 9090 }), svc('other', { 80: 8080 })] });

test('the destination side names the Service by target port, as Istio ztunnel guesses it', (t) => {
  t.is(guessInboundService(store, pod, 8080)?.hostname, 'api.shop.svc.cluster.local', 'the first of the pod\'s Services with that target port');
  t.is(guessInboundService(store, pod, 9090)?.hostname, 'api-admin.shop.svc.cluster.local');
  t.is(guessInboundService(store, pod, 7000), undefined, 'no Service targets that port: unknown');
});

test('the Service the source named wins, but only one of the pod\'s own', (t) => {
  t.is(guessInboundService(store, pod, 8080, 'api-admin.shop.svc.cluster.local')?.hostname, 'api-admin.shop.svc.cluster.local');
  t.is(guessInboundService(store, pod, 8080, 'other.shop.svc.cluster.local')?.hostname, 'api.shop.svc.cluster.local', 'a Service the pod does not back is not believed');
});
