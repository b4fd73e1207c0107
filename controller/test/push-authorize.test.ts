// Who may open which config stream (issue 12): a waypoint's config only to that waypoint's pods (the rendered
// ServiceAccount, owned by the Gateway, through a token bound to a live pod running as it); the ztunnel config
// only to a trusted node account's pod, for its own node.
import test from 'ava';
import { AuthError, staticPodLookup, type Caller } from '../src/ca/index.js';
import { streamAuthorizer, type ServiceAccountLookup } from '../src/push/index.js';
import { pod } from './ca-fixtures.js';

const pods = [
  pod('istio-system', 'ztunnel-a', 'ztunnel', 'node-a'),
  pod('bookinfo', 'reviews-v1', 'reviews', 'node-a'), // the application, running as its own account "reviews"
  pod('bookinfo', 'imposter', 'sleep', 'node-a', { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }),
  pod('bookinfo', 'waypoint-1', 'waypoint', 'node-b', { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }),
  pod('bookinfo', 'custom-1', 'wp-sa', 'node-b'),
];
const owner = (name: string) => [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name, uid: `uid-${name}` }];
const accounts: Record<string, { ownerReferences: ReturnType<typeof owner> }> = {
  'bookinfo/waypoint': { ownerReferences: owner('waypoint') },
  'bookinfo/wp-sa': { ownerReferences: owner('custom') },
  'bookinfo/reviews': { ownerReferences: [] },
};
const serviceAccounts: ServiceAccountLookup = { getServiceAccount: async (ns, name) => accounts[`${ns}/${name}`] };
const authorize = streamAuthorizer({ pods: staticPodLookup(() => pods), serviceAccounts });
const caller = (ns: string, sa: string, podName?: string): Caller => ({ namespace: ns, serviceAccount: sa, ...(podName ? { podName, podUid: `uid-${podName}` } : {}) });
const wp = (name: string, serviceAccount: string) => ({ kind: 'waypoint' as const, waypoint: `bookinfo/${name}`, identity: { serviceAccount, gatewayUid: `uid-${name}` } });

async function refused(t: import('ava').ExecutionContext, p: Promise<void>, message: RegExp) {
  const err = await t.throwsAsync(p, { instanceOf: AuthError });
  t.is(err!.status, 403);
  t.regex(err!.message, message);
}

test("the waypoint's own pod, running as its rendered and owned ServiceAccount, gets the config", async (t) => {
  await t.notThrowsAsync(authorize(caller('bookinfo', 'waypoint', 'waypoint-1'), wp('waypoint', 'waypoint')));
  await t.notThrowsAsync(authorize(caller('bookinfo', 'wp-sa', 'custom-1'), wp('custom', 'wp-sa')));
});

test("an application whose account has the Gateway's name cannot read the waypoint's config", async (t) => {
  // A Gateway named "reviews" renders ServiceAccount "reviews", which is the application's (not owned by the Gateway).
  await refused(t, authorize(caller('bookinfo', 'reviews', 'reviews-v1'), wp('reviews', 'reviews')), /waypoint bookinfo\/reviews: ServiceAccount bookinfo\/reviews is not owned by Gateway bookinfo\/reviews$/);
});

test("a pod carrying the waypoint's name label, or running as a name-like account, is refused", async (t) => {
  await refused(t, authorize(caller('bookinfo', 'sleep', 'imposter'), wp('waypoint', 'waypoint')), /the waypoint runs as bookinfo\/waypoint$/);
  // `<name>-waypoint` / `<name>-istio-waypoint` are not the account the controller renders for this Gateway.
  await refused(t, authorize(caller('bookinfo', 'waypoint-waypoint'), wp('waypoint', 'waypoint')), /the waypoint runs as bookinfo\/waypoint$/);
});

test("the waypoint's account without a pod-bound token, or for a pod that is gone or replaced, is refused", async (t) => {
  await refused(t, authorize(caller('bookinfo', 'waypoint'), wp('waypoint', 'waypoint')), /the token is not bound to a pod/);
  await refused(t, authorize(caller('bookinfo', 'waypoint', 'waypoint-9'), wp('waypoint', 'waypoint')), /pod bookinfo\/waypoint-9 is not running/);
  await refused(t, authorize({ ...caller('bookinfo', 'waypoint', 'waypoint-1'), podUid: 'old' }, wp('waypoint', 'waypoint')), /uid mismatch/);
});

test('a waypoint the mesh model does not know, or in another namespace, is refused', async (t) => {
  await refused(t, authorize(caller('bookinfo', 'waypoint', 'waypoint-1'), { kind: 'waypoint', waypoint: 'bookinfo/ghost' }), /no such waypoint Gateway in the mesh model/);
  await refused(t, authorize(caller('other', 'waypoint', 'waypoint-1'), wp('waypoint', 'waypoint')), /another namespace/);
});

test('the ztunnel config: a trusted node account pod, for its own node only', async (t) => {
  await t.notThrowsAsync(authorize(caller('istio-system', 'ztunnel', 'ztunnel-a'), { kind: 'ztunnel', node: 'node-a' }));
  await refused(t, authorize(caller('istio-system', 'ztunnel', 'ztunnel-a'), { kind: 'ztunnel', node: 'node-b' }), /its pod runs on node node-a, not node-b$/);
  await refused(t, authorize(caller('istio-system', 'ztunnel'), { kind: 'ztunnel', node: 'node-a' }), /the token is not bound to a pod/);
  await refused(t, authorize(caller('bookinfo', 'reviews', 'reviews-v1'), { kind: 'ztunnel', node: 'node-a' }), /not a trusted node account$/);
});
