// The Prometheus add-on on the local cluster's real nodes: `ambit install --addons prometheus` deploys a real
// Prometheus that finds ztunnel, the waypoint and the controller by their annotations, and after mesh traffic (some
// of it denied with 403 by an L7 AuthorizationPolicy at the waypoint) Istio's standard metrics are queryable over
// Prometheus' HTTP API (through the API server's service proxy) with Istio's labels: mutual TLS, the client's
// workload, the destination service, the waypoint as reporter and the 403s counted.
import test from 'ava';
import { openMeshCluster, serverManifest, waitFor, type TestCluster } from '@ambit/cluster';

const NS = 'prom-it';
const SERVICE_FQDN = `server.${NS}.svc.cluster.local`;
const ALLOWED = 6;
const DENIED = 4;
let mesh: TestCluster | undefined;
const sh = (command: string, input?: string) => mesh!.sh(command, input);

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through the API server's service proxy; the vector it answers. */
async function query(promql: string): Promise<Sample[]> {
  const path = `/api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/query?query=${encodeURIComponent(promql)}`;
  const body = JSON.parse(await sh(`kubectl get --raw '${path}'`)) as { status: string; data?: { resultType: string; result: Sample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error ?? body.status}`);
  return body.data!.result;
}

/** Retries a query (Prometheus scrapes every 15 s) until some series passes `ok`; up to 90 s. */
function eventually(what: string, promql: string, ok: (s: Sample) => boolean = () => true): Promise<Sample[]> {
  return waitFor(
    what,
    async () => {
      const r = await query(promql);
      return r.some(ok) ? r.filter(ok) : undefined;
    },
    90_000,
    3000,
  );
}

// The install is this test's subject: the set-up only makes room for it, and the after hook removes what it added.
test.before(async () => {
  mesh = await openMeshCluster({ addons: ['prometheus'], install: false, namespaces: [NS] });
});

test.after.always(async () => {
  await mesh?.close();
});

test.serial('ambit install --addons prometheus: Istio metrics from ztunnel and the waypoint, queryable with their labels', async (t) => {
  // Install (or, on a mesh already installed, re-apply it unchanged with the add-on): waits until Prometheus is ready.
  const installed = await sh('ambit install --addons prometheus');
  t.regex(installed, /^deployment\/prometheus -n istio-system ready$/m);
  t.regex(installed, /^\u2714 Addons installed$/m);

  // A server behind a waypoint in an ambient namespace, the sleep client, and an L7 policy allowing GET only.
  await sh(`kubectl create namespace ${NS}`);
  await sh(`kubectl label namespace ${NS} istio.io/dataplane-mode=ambient`);
  await sh(`kubectl apply -n ${NS} -f samples/manifests/sleep.yaml`);
  await sh(`kubectl apply -n ${NS} -f -`, serverManifest({ labels: { version: 'v1' }, readinessPeriodSeconds: 1 }));
  await sh(`ambit waypoint apply -n ${NS} --wait`);
  await sh(`kubectl label service server -n ${NS} istio.io/use-waypoint=waypoint`);
  await sh(
    `kubectl apply -n ${NS} -f -`,
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server-get-only}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: ALLOW
  rules: [{to: [{operation: {methods: [GET]}}]}]
`,
  );
  await sh(`kubectl wait --for=condition=available deployment --all -n ${NS} --timeout=180s`);

  // Traffic: GETs answered 200 through the waypoint (once the policy is in force), DELETEs refused with 403 by it.
  const code = async (method: string) => (await sh(`kubectl exec -n ${NS} deploy/sleep -- curl -s -o /dev/null -w '%{http_code}' -X ${method} http://server/`)).trim();
  await waitFor('a DELETE refused by the waypoint', async () => ((await code('DELETE')) === '403' ? true : undefined), 60_000, 1000);
  const codes = [];
  for (let i = 0; i < ALLOWED; i++) codes.push(await code('GET'));
  for (let i = 0; i < DENIED; i++) codes.push(await code('DELETE'));
  t.deepEqual(codes, [...Array<string>(ALLOWED).fill('200'), ...Array<string>(DENIED).fill('403')]);

  // Prometheus scrapes the mesh's pods through their annotations: ztunnel, the waypoint and the controller are up.
  const apps = await waitFor(
    'ztunnel, waypoint and istiod scraped',
    async () => {
      const r = await query('up{job="kubernetes-pods"} == 1');
      // Pod labels are copied onto the targets, sanitized (gateway.networking.k8s.io/gateway-name -> ..._gateway_name).
      const names = new Set(r.map((s) => (s.metric.namespace === NS ? s.metric.gateway_networking_k8s_io_gateway_name : s.metric.app) ?? ''));
      return names.has('ztunnel') && names.has('istiod') && names.has('waypoint') ? names : undefined;
    },
    90_000,
    3000,
  );
  t.log(`targets up: ${[...apps].join(', ')}`);

  // L4, from ztunnel: the client's connections over mutual TLS, with the service they were for.
  const mtls = `source_workload="sleep",source_workload_namespace="${NS}",connection_security_policy="mutual_tls"`;
  const opened = await eventually(
    'istio_tcp_connections_opened_total from sleep to the server over mTLS',
    `istio_tcp_connections_opened_total{${mtls}}`,
    (s) => s.metric.reporter === 'source' && s.metric.destination_service === SERVICE_FQDN,
  );
  t.like(opened[0]!.metric, { reporter: 'source', source_principal: `spiffe://cluster.local/ns/${NS}/sa/sleep`, request_protocol: 'tcp' });
  t.true(Number(opened[0]!.value[1]) >= 1);
  const sent = await eventually('istio_tcp_sent_bytes_total from sleep over mTLS', `istio_tcp_sent_bytes_total{${mtls}}`, (s) => s.metric.destination_service === SERVICE_FQDN);
  t.true(sent.some((s) => Number(s.value[1]) > 0), 'bytes were sent');
  // ztunnel at the receiving end reports the same connections (reporter="destination"), also over mutual TLS.
  await eventually('istio_tcp_connections_opened_total reported by the destination', `istio_tcp_connections_opened_total{reporter="destination",connection_security_policy="mutual_tls",source_workload_namespace="${NS}"}`);

  // L7, from the waypoint: the requests with their codes, the DELETEs counted as 403.
  const l7 = `reporter="waypoint",source_workload="sleep",destination_service="${SERVICE_FQDN}"`;
  const denied = await eventually('istio_requests_total{response_code="403"} from the waypoint', `istio_requests_total{${l7},response_code="403"}`, (s) => Number(s.value[1]) >= DENIED);
  t.like(denied[0]!.metric, { connection_security_policy: 'mutual_tls', request_protocol: 'http', response_flags: '-', source_principal: `spiffe://cluster.local/ns/${NS}/sa/sleep` });
  const allowed = await eventually('istio_requests_total{response_code="200"} from the waypoint', `istio_requests_total{${l7},response_code="200"}`, (s) => Number(s.value[1]) >= ALLOWED);
  t.like(allowed[0]!.metric, { destination_workload: 'server', destination_service_name: 'server', destination_service_namespace: NS });
  const buckets = await eventually('istio_request_duration_milliseconds_bucket from the waypoint', `istio_request_duration_milliseconds_bucket{${l7}}`);
  t.true(buckets.some((s) => s.metric.le === '+Inf' && Number(s.value[1]) >= ALLOWED));
});
