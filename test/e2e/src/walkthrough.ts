// The getting-started walkthrough as data: each step is the commands a user types (exactly as the seeds
// show them) and what the user must see. `npm run demo` prints them with their real output; the end-to-end
// test runs the same list and asserts every expectation.
import type { ShellResult } from '@ambit/cluster';

export type Dialect = '2024' | '2022';

export interface Expect {
  /** What the user should see, in words (printed by the demo, used as the assertion message). */
  says: string;
  check(r: ShellResult, memo: Memo): boolean;
}

export interface Command {
  run: string;
  expect?: Expect[];
  /** Re-run until every expectation holds (the mesh converges asynchronously); only the last run is shown. */
  retryForMs?: number;
  /** Run but do not print (set-up and waits a user would not type). */
  quiet?: boolean;
  /** Keep something from the output for a later check. */
  remember?: (r: ShellResult, memo: Memo) => void;
  timeoutMs?: number;
}

export interface Step {
  title: string;
  commands: Command[];
}

export type Memo = Record<string, unknown>;

export const exitCode = (code: number): Expect => ({ says: `exit code ${code}`, check: (r) => r.code === code });
export const prints = (re: RegExp): Expect => ({ says: `output matches ${re}`, check: (r) => re.test(r.stdout) });
export const printsErr = (re: RegExp): Expect => ({ says: `error output matches ${re}`, check: (r) => re.test(r.stderr) });
export const printsNothing = (): Expect => ({ says: 'no output', check: (r) => r.stdout.trim() === '' });

const TITLE = '<title>Simple Bookstore App</title>';
const titleFrom = (client: string) => `kubectl exec deploy/${client} -- curl -s http://productpage:9080/ | grep -o "<title>.*</title>"`;
const showsTitle = prints(new RegExp(TITLE));
const podsState = `kubectl get pods -n default -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {.status.containerStatuses[0].restartCount}{"\\n"}{end}'`;
const sameAppPods: Expect = {
  says: 'no pod was restarted or replaced',
  check: (r, memo) => r.stdout.trim() === String(memo.pods ?? '').trim(),
};

/** 100 product pages fetched from sleep through the ingress gateway, as the 2024 seed does: one line per page. */
const hundredPages = 'kubectl exec deploy/sleep -- sh -c "for i in \\$(seq 1 100); do curl -s http://$GATEWAY_HOST/productpage | grep reviews-v.-; done"';
/** Where the demo saves the service graph (the demo's last lines point at it). */
export const GRAPH_FILE = '.ambit/demo/mesh-graph.png';
const GRAPH = `kubectl exec deploy/sleep -- sh -c "for i in \\$(seq 1 30); do curl -s -o /dev/null http://$GATEWAY_HOST/productpage; done" && ambit dashboard --screenshot ${GRAPH_FILE}`;
const bookinfoGraph: Expect = {
  says: 'a graph of at least 8 nodes and 8 edges (the gateway, productpage, details, reviews, ratings, the waypoints) saved',
  check: (r) => {
    const m = /the graph \((\d+) nodes, (\d+) edges\)/.exec(r.stdout);
    return r.code === 0 && !!m && Number(m[1]) >= 8 && Number(m[2]) >= 8;
  },
};
/** The 2022 seed's ten pages through `istio-ingressgateway`. */
const tenPages2022 = `kubectl exec deploy/sleep -- sh -c 'for i in $(seq 1 10); do curl -s http://istio-ingressgateway.istio-system/productpage | grep reviews-v.-; done'`;
const countOf = (out: string, v: string): number => out.split('\n').filter((l) => l.includes(`reviews-${v}-`)).length;
function aboutTenPercentV2(): Expect {
  return {
    says: 'about 10 of 100 pages were served by reviews-v2, the rest by reviews-v1',
    check: (r) => {
      const v1 = countOf(r.stdout, 'v1');
      const v2 = countOf(r.stdout, 'v2');
      return v1 + v2 === 100 && v2 >= 2 && v2 <= 25 && countOf(r.stdout, 'v3') === 0;
    },
  };
}
const onlyV1AndV2 = (n: number): Expect => ({
  says: `${n} pages, each served by reviews-v1 or reviews-v2, none by v3`,
  check: (r) => countOf(r.stdout, 'v1') + countOf(r.stdout, 'v2') === n && countOf(r.stdout, 'v3') === 0,
});

/**
 * The ingress of each replay, one tab of the 2024 seed each: the 2024 replay takes the Gateway API tab (a Gateway of
 * class `istio` moved to istio-system), the 2022 replay the Istio API tab (the `istio-ingressgateway` its seed
 * installs, an Istio Gateway and VirtualService).
 */
const INGRESS: Record<Dialect, { install: string; apply: Command[]; host: string; account: string; addressOf: string; podLine: RegExp | undefined }> = {
  '2024': {
    install: 'ambit install',
    apply: [
      {
        run: `sed -e 's/from: Same/from: All/'\\
      -e '/^  name: bookinfo-gateway/a\\
  namespace: istio-system\\
'     -e '/^  - name: bookinfo-gateway/a\\
    namespace: istio-system\\
' samples/manifests/gateway-api/bookinfo-gateway.yaml | kubectl apply -f -`,
        expect: [exitCode(0), prints(/gateway.gateway.networking.k8s.io\/bookinfo-gateway (created|configured|unchanged)/)],
      },
      { run: 'kubectl wait --for=condition=programmed gtw/bookinfo-gateway -n istio-system', expect: [exitCode(0), prints(/condition met/)], retryForMs: 120_000, timeoutMs: 60_000 },
    ],
    host: 'bookinfo-gateway-istio.istio-system',
    account: 'ns/istio-system/sa/bookinfo-gateway-istio',
    addressOf: `kubectl get gtw bookinfo-gateway -n istio-system -o jsonpath='{.status.addresses[0].value}'`,
    podLine: undefined,
  },
  '2022': {
    install: 'ambit install --set "components.ingressGateways[0].enabled=true" --set "components.ingressGateways[0].name=istio-ingressgateway"',
    apply: [{ run: 'kubectl apply -f samples/manifests/istio-api/bookinfo-gateway.yaml', expect: [exitCode(0), prints(/gateway.networking.istio.io\/bookinfo-gateway (created|configured|unchanged)/)] }],
    host: 'istio-ingressgateway.istio-system',
    account: 'ns/istio-system/sa/istio-ingressgateway-service-account',
    addressOf: `kubectl get svc istio-ingressgateway -n istio-system -o jsonpath='{.status.loadBalancer.ingress[0].ip}'`,
    podLine: /istio-ingressgateway-\S+\s+1\/1\s+Running/,
  },
};
const titleThroughGateway = `kubectl exec deploy/sleep -- curl -s "http://$GATEWAY_HOST/productpage" | grep -o "<title>.*</title>"`;

/** The seeds' policies, typed as heredocs so `$GATEWAY_SERVICE_ACCOUNT` is the shell's, exactly as the 2024 seed does. */
const L4_POLICY = `kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: productpage-viewer
  namespace: default
spec:
  selector:
    matchLabels:
      app: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/default/sa/sleep
        - cluster.local/$GATEWAY_SERVICE_ACCOUNT
EOF`;
const L7_POLICY = `kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: productpage-viewer
  namespace: default
spec:
  targetRef:
    kind: Gateway
    group: gateway.networking.k8s.io
    name: bookinfo-productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/default/sa/sleep
        - cluster.local/$GATEWAY_SERVICE_ACCOUNT
    to:
    - operation:
        methods: ["GET"]
EOF`;

export function walkthrough(dialect: Dialect): Step[] {
  const ingress = INGRESS[dialect];
  const steps: Step[] = [
    {
      title: '1. Install the mesh',
      commands: [
        {
          run: ingress.install,
          expect: [exitCode(0), ...(ingress.podLine ? [prints(/✔ Ingress gateways installed/)] : [])],
          timeoutMs: 180_000,
        },
        { run: 'kubectl wait --for=condition=Ready pods --all -n istio-system --timeout=180s', quiet: true, expect: [exitCode(0)], timeoutMs: 200_000 },
        {
          run: 'kubectl get pods -n istio-system',
          expect: [prints(/ztunnel-\S+\s+1\/1\s+Running/), prints(/istiod-\S+\s+1\/1\s+Running/), ...(ingress.podLine ? [prints(ingress.podLine)] : [])],
        },
        { run: 'kubectl get daemonset -n istio-system', expect: [prints(/ztunnel\s+2\s+2\s+2\s+2\s+2/)] },
      ],
    },
    {
      title: '2. Deploy Bookinfo and the curl clients, without the mesh',
      commands: [
        { run: 'kubectl apply -f samples/manifests/bookinfo.yaml', expect: [exitCode(0)] },
        { run: 'kubectl apply -f samples/manifests/sleep.yaml', expect: [exitCode(0)] },
        { run: 'kubectl apply -f samples/manifests/notsleep.yaml', expect: [exitCode(0)] },
        { run: 'kubectl wait --for=condition=Ready pods --all -n default --timeout=180s', expect: [exitCode(0)], timeoutMs: 200_000 },
        // Known issue (real nodes): in some runs the first requests after enrolment are reset for 30-60 s, with no
        // access-log line on either ztunnel; see the closing note of the real-nodes work. Retried meanwhile.
        { run: titleFrom('sleep'), expect: [showsTitle], retryForMs: 90_000 },
        { run: titleFrom('notsleep'), expect: [showsTitle], retryForMs: 30_000 },
      ],
    },
    {
      title: `2b. An ingress gateway, so Bookinfo is reached from outside the cluster (${dialect === '2024' ? 'the Gateway API' : "Istio's API"})`,
      commands: [
        ...ingress.apply,
        { run: `export GATEWAY_HOST=${ingress.host}` },
        { run: `export GATEWAY_SERVICE_ACCOUNT=${ingress.account}` },
        { run: titleThroughGateway, expect: [showsTitle], retryForMs: 90_000 },
        {
          // From the machine itself, to the gateway's LoadBalancer address: "from outside the cluster".
          run: `curl -s "http://$(${ingress.addressOf})/productpage" | grep -o "<title>.*</title>"`,
          expect: [showsTitle],
          retryForMs: 60_000,
        },
      ],
    },
    {
      title: '3. Join the mesh without restarts',
      commands: [
        { run: podsState, quiet: true, remember: (r, memo) => { memo.pods = r.stdout; } },
        { run: 'kubectl label namespace default istio.io/dataplane-mode=ambient', expect: [exitCode(0)] },
        {
          run: 'kubectl logs -n istio-system -l app=ztunnel --tail=-1 | grep "starting proxy" | grep productpage',
          expect: [prints(/pod received, starting proxy uid=\S+ name=productpage-v1-\S+ namespace=default/)],
          retryForMs: 60_000,
        },
        // Known issue (real nodes): in some runs the first requests after enrolment are reset for 30-60 s, with no
        // access-log line on either ztunnel; see the closing note of the real-nodes work. Retried meanwhile.
        { run: titleFrom('sleep'), expect: [showsTitle], retryForMs: 90_000 },
        {
          // A fresh request each try: the first requests after enrolment may still be plain TCP until every
          // ztunnel has heard that the destination is captured (as in Istio; the seed's user runs curl again).
          run: `kubectl exec deploy/sleep -- curl -s -o /dev/null http://productpage:9080/; kubectl logs -n istio-system -l app=ztunnel --tail=2000 --max-log-requests=10 | grep 'src.identity="spiffe://cluster.local/ns/default/sa/sleep"' | grep productpage | tail -1`,
          expect: [prints(/connection complete\s.*src\.identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep".*dst\.service="productpage\.default\.svc\.cluster\.local"/)],
          // See the known issue above: in one CI rehearsal the lines were in the logs (the diagnostics showed them)
          // while this command printed nothing for 30 s.
          retryForMs: 90_000,
        },
        {
          // Through the API server's pod proxy: the ztunnel image carries no curl (as Istio's distroless one).
          run: `for p in $(kubectl get pods -n istio-system -l app=ztunnel -o jsonpath='{.items[*].metadata.name}'); do kubectl get --raw /api/v1/namespaces/istio-system/pods/$p:15020/proxy/metrics; done | grep istio_tcp_connections_opened_total | grep 'destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage"' | grep -m1 'connection_security_policy="mutual_tls"'`,
          expect: [prints(/connection_security_policy="mutual_tls"/)],
          retryForMs: 90_000,
        },
        { run: podsState, quiet: true, expect: [sameAppPods] },
        { run: 'kubectl get pods -n default', expect: [prints(/productpage-v1-\S+\s+1\/1\s+Running\s+0/)] },
      ],
    },
    {
      title: '4. L4 authorization, enforced by ztunnel',
      commands: [
        { run: L4_POLICY, expect: [exitCode(0)] },
        // The gateway's own identity is allowed: it reaches productpage over HBONE as GATEWAY_SERVICE_ACCOUNT.
        { run: titleThroughGateway, expect: [showsTitle], retryForMs: 90_000 },
        { run: titleFrom('sleep'), expect: [showsTitle], retryForMs: 90_000 },
        { run: titleFrom('notsleep'), expect: [printsNothing(), printsErr(/command terminated with exit code 56/)], retryForMs: 30_000 },
      ],
    },
  ];

  if (dialect === '2024') {
    steps.push(
      {
        title: '5. A waypoint for productpage',
        commands: [
          { run: 'ambit waypoint apply --service-account bookinfo-productpage --wait', expect: [prints(/^waypoint default\/bookinfo-productpage applied$/m)], timeoutMs: 150_000 },
          { run: 'kubectl get gtw bookinfo-productpage', expect: [prints(/bookinfo-productpage\s+istio-mesh\s+\S+\s+True/)] },
          {
            run: `kubectl get gtw bookinfo-productpage -o yaml | grep -B4 -A1 'type: Programmed'`,
            expect: [prints(/message: Resource programmed, assigned to service\(s\) bookinfo-productpage-istio-waypoint\.default\.svc\.cluster\.local:15008/), prints(/reason: Programmed/), prints(/status: "True"/)],
          },
          { run: 'kubectl get deploy,svc bookinfo-productpage-istio-waypoint', expect: [prints(/15008\/TCP/)] },
        ],
      },
      {
        title: '6. L7 authorization, enforced by the waypoint',
        commands: [
          { run: L7_POLICY, expect: [exitCode(0)] },
          { run: 'kubectl exec deploy/sleep -- curl -s "http://$GATEWAY_HOST/productpage" -X DELETE', expect: [prints(/^RBAC: access denied$/)], retryForMs: 30_000 },
          { run: 'kubectl exec deploy/sleep -- curl -s http://productpage:9080/ -X DELETE', expect: [prints(/^RBAC: access denied$/)], retryForMs: 30_000 },
          { run: 'kubectl exec deploy/notsleep -- curl -s http://productpage:9080/', expect: [prints(/^RBAC: access denied$/)], retryForMs: 30_000 },
          // Known issue (real nodes): in some runs the first requests after enrolment are reset for 30-60 s, with no
        // access-log line on either ztunnel; see the closing note of the real-nodes work. Retried meanwhile.
        { run: titleFrom('sleep'), expect: [showsTitle], retryForMs: 90_000 },
        ],
      },
      {
        title: "7. Traffic control: 90/10 between reviews v1 and v2 (Istio's API, then the Gateway API)",
        commands: [
          { run: 'ambit waypoint apply --service-account bookinfo-reviews --wait', expect: [prints(/^waypoint default\/bookinfo-reviews applied$/m)], timeoutMs: 150_000 },
          { run: 'kubectl apply -f samples/manifests/istio-api/virtual-service-reviews-90-10.yaml', expect: [exitCode(0)] },
          { run: 'kubectl apply -f samples/manifests/istio-api/destination-rule-reviews.yaml', expect: [exitCode(0)] },
          { run: hundredPages, expect: [aboutTenPercentV2()], retryForMs: 60_000, timeoutMs: 120_000 },
          { run: 'kubectl delete virtualservice reviews && kubectl delete destinationrule reviews', expect: [exitCode(0)] },
          { run: 'kubectl apply -f samples/manifests/bookinfo-versions.yaml', expect: [exitCode(0)] },
          { run: 'kubectl apply -f samples/manifests/gateway-api/route-reviews-90-10.yaml', expect: [exitCode(0)] },
          { run: hundredPages, expect: [aboutTenPercentV2()], retryForMs: 60_000, timeoutMs: 120_000 },
        ],
      },
      {
        title: '7b. See the mesh: Prometheus scrapes ztunnels and waypoints; the service graph',
        commands: [
          { run: 'kubectl apply -f samples/addons/prometheus.yaml', expect: [exitCode(0)] },
          { run: 'kubectl rollout status deployment/prometheus -n istio-system --timeout=180s', expect: [exitCode(0)], timeoutMs: 200_000 },
          // Traffic while Prometheus scrapes (every 15 s), until the graph holds Bookinfo: then a picture of it.
          { run: GRAPH, expect: [bookinfoGraph], retryForMs: 180_000, timeoutMs: 120_000 },
        ],
      },
    );
  } else {
    steps.push(
      {
        title: '5. A waypoint for productpage (the 2022 Gateway YAML)',
        commands: [
          { run: 'kubectl delete authorizationpolicy productpage-viewer', expect: [exitCode(0)] },
          { run: 'kubectl apply -f samples/manifests/dialect-2022/waypoint-productpage.yaml', expect: [exitCode(0)] },
          { run: 'kubectl wait --for=condition=Programmed gtw/productpage --timeout=120s', expect: [exitCode(0)], timeoutMs: 150_000 },
          { run: 'kubectl get pod | grep waypoint', expect: [prints(/productpage-istio-waypoint-\S+\s+1\/1\s+Running/)] },
          // Known issue (real nodes): in some runs the first requests after enrolment are reset for 30-60 s, with no
        // access-log line on either ztunnel; see the closing note of the real-nodes work. Retried meanwhile.
        { run: titleFrom('sleep'), expect: [showsTitle], retryForMs: 90_000 },
        ],
      },
      {
        title: '7. Traffic control: a reviews waypoint, a DestinationRule with three subsets, a VirtualService 90/10',
        commands: [
          { run: 'kubectl apply -f samples/manifests/dialect-2022/waypoint-reviews.yaml', expect: [exitCode(0)] },
          { run: 'kubectl wait --for=condition=Programmed gtw/reviews --timeout=120s', expect: [exitCode(0)], timeoutMs: 150_000 },
          { run: 'kubectl apply -f samples/manifests/dialect-2022/destination-rule-reviews.yaml', expect: [exitCode(0)] },
          { run: 'kubectl apply -f samples/manifests/dialect-2022/virtual-service-reviews-90-10.yaml', expect: [exitCode(0)] },
          { run: tenPages2022, expect: [onlyV1AndV2(10)], retryForMs: 60_000, timeoutMs: 120_000 },
          { run: hundredPages, expect: [aboutTenPercentV2()], retryForMs: 60_000, timeoutMs: 120_000 },
        ],
      },
    );
  }

  steps.push({
    title: '8. Uninstall: the application keeps running, unmeshed, with nothing left behind',
    commands: [
      { run: dialect === '2024' ? 'ambit waypoint delete --all' : 'kubectl delete gtw productpage reviews', expect: [exitCode(0)] },
      { run: 'kubectl label namespace default istio.io/dataplane-mode-', expect: [exitCode(0)] },
      { run: 'ambit uninstall --purge', expect: [exitCode(0)], timeoutMs: 180_000 },
      { run: titleFrom('sleep'), expect: [showsTitle], retryForMs: 60_000 },
      { run: titleFrom('notsleep'), expect: [showsTitle], retryForMs: 60_000 },
      // The deleted waypoints' pods go asynchronously (terminating for up to their grace period).
      { run: podsState, quiet: true, expect: [sameAppPods], retryForMs: 30_000 },
      {
        run: 'kubectl get pods -n default -o jsonpath=\'{.items[*].metadata.annotations.ambient\\.istio\\.io/redirection}\'',
        quiet: true,
        expect: [printsNothing()],
        retryForMs: 30_000,
      },
      { run: 'kubectl get all -n istio-system 2>&1', expect: [prints(/No resources found|NotFound|not found/)], retryForMs: 90_000 },
      { run: 'kubectl delete -f samples/manifests/bookinfo.yaml -f samples/manifests/sleep.yaml -f samples/manifests/notsleep.yaml --ignore-not-found', quiet: true },
      { run: 'kubectl delete -f samples/manifests/bookinfo-versions.yaml --ignore-not-found; kubectl delete httproute reviews bookinfo --ignore-not-found; kubectl delete virtualservice bookinfo --ignore-not-found; kubectl delete gateway.networking.istio.io bookinfo-gateway --ignore-not-found; kubectl delete authorizationpolicy productpage-viewer --ignore-not-found; kubectl delete virtualservice,destinationrule reviews --ignore-not-found', quiet: true },
      // The Deployments' pods go in the background; the next replay's `kubectl wait --all` must not find them.
      { run: 'kubectl wait --for=delete pods --all -n default --timeout=90s', quiet: true, timeoutMs: 100_000 },
    ],
  });
  return steps;
}
