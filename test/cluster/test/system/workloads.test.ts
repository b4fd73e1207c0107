// System: workloads end to end on the real nodes (kubelet + containerd + runc): a Deployment of two python3
// http.server replicas behind a Service, a curl client, cluster DNS (CoreDNS via kube-proxy), kubectl exec and logs,
// probes run by the kubelet, and a teardown that leaves nothing. Owns its cluster.
import test from 'ava';
import { buildControlPlane, startCluster, type Cluster } from '../../src/index.js';
import { baseline, leftovers, noLeftovers, podNetnsNames, type Baseline } from './helpers.js';

let cluster: Cluster;
let before: Baseline;
const ns = 'web-demo';

const manifest = `apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ambit/test-tools:0.1.0
        command: ["python3", "-m", "http.server", "8080"]
        ports:
        - {containerPort: 8080, name: http}
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${ns}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: ${ns}
spec:
  containers:
  - name: curl
    image: ambit/test-tools:0.1.0
    command: ["sleep", "3600"]
`;

const maybe = test.serial;

test.before(async (t) => {
  before = await baseline(await buildControlPlane());
  const started = Date.now();
  cluster = await startCluster({ log: (l) => t.log(l) });
  t.log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
});

test.after.always(async () => {
  await cluster?.stop();
});

maybe('a Deployment, a Service and a client pod become ready', async (t) => {
  t.deepEqual(cluster.nodeNames, ['ambit-node-1', 'ambit-node-2']);
  const apply = await cluster.kubectl(['apply', '-f', '-'], { input: manifest });
  t.is(apply.code, 0, apply.stderr);
  const rollout = await cluster.kubectl(['-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=90s'], { timeoutMs: 95_000 });
  t.is(rollout.code, 0, rollout.stderr);
  const client = await cluster.kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s'], { timeoutMs: 65_000 });
  t.is(client.code, 0, client.stderr);
  const ips = await cluster.kubectl(['-n', ns, 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].status.podIP}']);
  for (const ip of ips.stdout.split(' ')) t.regex(ip, /^10\.244\.\d+\.\d+$/);
});

maybe('the nodes are real: containerd 2.2.10 runtimes, container IDs from containerd, pods on both nodes', async (t) => {
  const nodes = await cluster.kubectl(['get', 'nodes', '-o', 'wide']);
  t.is(nodes.stdout.match(/containerd:\/\/2\.2\.10/g)?.length, 2, nodes.stdout);
  const ids = await cluster.kubectl(['-n', ns, 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.spec.nodeName} {.status.containerStatuses[0].containerID}{"\\n"}{end}']);
  const lines = ids.stdout.trim().split('\n');
  for (const l of lines) t.regex(l, /^ambit-node-[12] containerd:\/\/[0-9a-f]{64}$/);
});

maybe('the client reaches the Service by short name and by FQDN', async (t) => {
  for (const url of ['http://web/', `http://web.${ns}.svc.cluster.local/`]) {
    const r = await cluster.kubectl(['-n', ns, 'exec', 'client', '--', 'curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', url]);
    t.is(r.code, 0, `${url}: ${r.stderr}`);
    t.is(r.stdout, '200', url);
  }
  const body = await cluster.kubectl(['-n', ns, 'exec', 'client', '--', 'curl', '-sS', '--max-time', '10', 'http://web/']);
  t.regex(body.stdout, /Directory listing for \//);
});

maybe('DNS: a Service created after a failed lookup resolves (no cached NXDOMAIN); names outside the cluster are NXDOMAIN, not a temporary failure', async (t) => {
  const lookup = (name: string) =>
    cluster.kubectl(['-n', ns, 'exec', 'client', '--', 'python3', '-c', `import socket,sys
try:
  print(socket.gethostbyname(sys.argv[1]))
except socket.gaierror as e:
  print('error', e.errno)`, name]);
  const before = await lookup(`late.${ns}.svc.cluster.local`);
  t.regex(before.stdout, /^error -2$/m, 'EAI_NONAME while the Service does not exist');
  const created = await cluster.kubectl(['-n', ns, 'create', 'service', 'clusterip', 'late', '--tcp=80:8080']);
  t.is(created.code, 0, created.stderr);
  const ip = (await cluster.kubectl(['-n', ns, 'get', 'service', 'late', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();
  // Asked again right away: a denial cache would answer NXDOMAIN for up to 30 s more.
  let after = await lookup(`late.${ns}.svc.cluster.local`);
  for (let i = 0; i < 4 && after.stdout.trim() !== ip; i++) after = await lookup(`late.${ns}.svc.cluster.local`);
  t.is(after.stdout.trim(), ip);
  const outside = await lookup('example.org');
  t.regex(outside.stdout, /^error -2$/m, 'NXDOMAIN (EAI_NONAME), not EAI_AGAIN');
});

maybe('pods reach the API server through the kubernetes Service (in-cluster config)', async (t) => {
  const r = await cluster.kubectl(['-n', ns, 'exec', 'client', '--', 'curl', '-sS', '--max-time', '10',
    '--cacert', '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', 'https://kubernetes.default.svc/version']);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { gitVersion: string }).gitVersion, 'v1.36.3');
});

maybe('pod traffic to anything off the machine is rejected', async (t) => {
  // 192.0.2.1 (TEST-NET-1): never routed anywhere; the FORWARD guard rejects it before it could leave.
  const r = await cluster.kubectl(['-n', ns, 'exec', 'client', '--', 'curl', '-sS', '--max-time', '5', 'http://192.0.2.1/']);
  t.not(r.code, 0);
  t.regex(r.stderr, /Failed to connect|Could not connect|Connection refused|No route to host/);
});

maybe('kubectl logs shows the server access log', async (t) => {
  const r = await cluster.kubectl(['-n', ns, 'logs', '-l', 'app=web', '--tail=-1', '--prefix']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /"GET \/ HTTP\/1\.1" 200/);
});

maybe('kubectl exec reports the command exit code', async (t) => {
  const r = await cluster.kubectl(['-n', ns, 'exec', 'client', '--', 'sh', '-c', 'exit 3']);
  t.is(r.code, 3);
  t.regex(r.stderr, /command terminated with exit code 3/);
});

maybe('stop() leaves nothing behind', async (t) => {
  const { binDir, stateDir } = cluster;
  const podNetns = await podNetnsNames(cluster);
  await cluster.stop();
  t.deepEqual(await leftovers(binDir, stateDir, before, podNetns), noLeftovers);
});
