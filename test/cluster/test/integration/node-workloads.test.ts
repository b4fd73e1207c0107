// Integration (root, shared cluster from AMBIT_KUBECONFIG): Pods on Ambit's virtual nodes behave as a user of a
// real cluster expects: scheduled across nodes with their own IPs, reachable through a Service and cluster DNS,
// `kubectl exec` and `kubectl logs` work, unmapped images and crashing commands are reported like the kubelet
// reports them, and deleting a workload removes its processes and network namespaces.
import test from 'ava';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from '../../src/index.js';
import { alive, eventually, kubectlOk, netnsPids, sharedCluster } from './helpers.js';

let cluster: Cluster;
const namespaces: string[] = [];

function newNamespace(prefix: string): string {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  namespaces.push(ns);
  return ns;
}

async function kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return cluster.kubectl(args, { input, timeoutMs: 120_000 });
}

const ok = (args: string[], input?: string) => kubectlOk(cluster, args, input);

async function pods(ns: string, selector?: string): Promise<V1Pod[]> {
  const out = await ok(['-n', ns, 'get', 'pods', '-o', 'json', ...(selector ? ['-l', selector] : [])]);
  return (JSON.parse(out) as { items: V1Pod[] }).items;
}

test.before(async () => {
  cluster = await sharedCluster();
});

test.after.always(async () => {
  if (!cluster) return;
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
});

const webApp = (ns: string) => `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: web
        image: python:3.12
        command: ["sh", "-c", "echo hello from $POD_NAME > /srv/index.html && exec python3 -m http.server 8080 --directory /srv"]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        ports: [{containerPort: 8080, name: http}]
        volumeMounts: [{name: www, mountPath: /srv}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
      volumes: [{name: www, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${ns}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
      - name: curl
        image: curlimages/curl
        command: ["/bin/sleep", "infinity"]
`;

test('two HTTP servers on different nodes behind a Service: exec, DNS, logs, exit codes, deletion', async (t) => {
  const ns = newNamespace('node-web');
  await ok(['apply', '-f', '-'], webApp(ns));
  await ok(['-n', ns, 'rollout', 'status', 'deploy/web', '--timeout=120s']);
  await ok(['-n', ns, 'rollout', 'status', 'deploy/client', '--timeout=120s']);

  const web = await pods(ns, 'app=web');
  t.is(web.length, 2);
  for (const p of web) {
    t.is(p.status?.phase, 'Running');
    t.is(p.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    t.regex(p.status?.podIP ?? '', /^10\.244\.\d+\.\d+$/);
    t.truthy(p.status?.hostIP);
    t.regex(p.status?.containerStatuses?.[0]?.containerID ?? '', /^ambit:\/\//);
    t.true(existsSync(`/var/run/netns/ambit-${p.metadata!.uid}`), 'the pod network namespace follows the ambit-<uid> contract');
  }
  t.not(web[0]!.spec?.nodeName, web[1]!.spec?.nodeName, 'anti-affinity spreads the replicas over two nodes');
  t.not(web[0]!.status?.podIP, web[1]!.status?.podIP);

  // Through the Service, by short name and by FQDN (cluster DNS), from the client pod.
  const byName = await eventually('curl http://web/', async () => {
    const r = await kubectl(['-n', ns, 'exec', 'deploy/client', '--', 'curl', '-s', '-m', '5', 'http://web/']);
    return r.code === 0 && r.stdout.includes('hello from web-') && r.stdout;
  });
  t.regex(byName, /^hello from web-[a-z0-9]+-[a-z0-9]+\n$/);
  const fqdn = await eventually('curl the service FQDN', async () => {
    const r = await kubectl(['-n', ns, 'exec', 'deploy/client', '--', 'curl', '-s', '-m', '5', `http://web.${ns}.svc.cluster.local/`]);
    return r.code === 0 && r.stdout;
  });
  t.regex(fqdn, /^hello from web-/);
  // Pod to pod, straight to each replica's IP.
  for (const p of web) {
    const direct = await ok(['-n', ns, 'exec', 'deploy/client', '--', 'curl', '-s', '-m', '5', `http://${p.status!.podIP}:8080/`]);
    t.is(direct, `hello from ${p.metadata!.name}\n`);
  }

  // kubectl logs shows the server's own output (python's access log on stderr).
  const logs = await eventually('access log lines', async () => {
    const out = await ok(['-n', ns, 'logs', web[0]!.metadata!.name!]);
    return out.includes('"GET / HTTP/1.1" 200') && out;
  });
  t.regex(logs, /Serving HTTP on|GET \/ HTTP\/1\.1" 200/);
  t.regex(await ok(['-n', ns, 'logs', 'deploy/web', '--tail=1']), /HTTP\/1\.1" 200/);

  // A command's exit code comes back through kubectl exec.
  const exit3 = await kubectl(['-n', ns, 'exec', 'deploy/client', '--', 'sh', '-c', 'exit 3']);
  t.is(exit3.code, 3);
  t.regex(exit3.stderr, /command terminated with exit code 3/);

  // Deleting the Deployment removes the pods' processes and network namespaces.
  const netns = web.map((p) => `ambit-${p.metadata!.uid}`);
  const pids = netns.flatMap((n) => netnsPids(n));
  t.true(pids.length >= 2, 'the servers run inside their pods netns');
  await ok(['-n', ns, 'delete', 'deploy/web']);
  await eventually('web pods gone', async () => (await pods(ns, 'app=web')).length === 0);
  await eventually('netns removed', async () => netns.every((n) => !existsSync(`/var/run/netns/${n}`)), 30_000);
  await eventually('processes gone', async () => pids.every((pid) => !alive(pid)), 30_000);
  t.pass();
});

test('an image with no mapping waits in ErrImagePull naming the image; the node stays Ready', async (t) => {
  const ns = newNamespace('node-pull');
  await ok(['create', 'namespace', ns]);
  await ok(['-n', ns, 'run', 'nothing', '--image=example.invalid/nothing-here:1.0', '--restart=Never']);
  const waiting = await eventually('ErrImagePull', async () => {
    const [p] = await pods(ns);
    const w = p?.status?.containerStatuses?.[0]?.state?.waiting;
    return w && (w.reason === 'ErrImagePull' || w.reason === 'ImagePullBackOff') && w;
  });
  t.regex(waiting.message ?? '', /example\.invalid\/nothing-here:1\.0/);
  const [p] = await pods(ns);
  t.is(p!.status?.phase, 'Pending');
  const node = JSON.parse(await ok(['get', 'node', p!.spec!.nodeName!, '-o', 'json'])) as { status: { conditions: Array<{ type: string; status: string }> } };
  t.is(node.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
});

test('a command exiting 1 is restarted with back-off: CrashLoopBackOff, previous logs kept', async (t) => {
  const ns = newNamespace('node-crash');
  await ok(['create', 'namespace', ns]);
  await ok(['-n', ns, 'run', 'crash', '--image=busybox', '--', 'sh', '-c', 'echo attempt failed; exit 1']);
  const st = await eventually('CrashLoopBackOff', async () => {
    const [p] = await pods(ns);
    const s = p?.status?.containerStatuses?.[0];
    return s && s.restartCount >= 1 && s.state?.waiting?.reason === 'CrashLoopBackOff' && s;
  });
  t.regex(st.state!.waiting!.message ?? '', /back-off \d+s restarting failed container=crash/);
  t.is(st.lastState?.terminated?.exitCode, 1);
  t.is(st.lastState?.terminated?.reason, 'Error');
  t.false(st.ready);
  t.is(await ok(['-n', ns, 'logs', 'crash']), 'attempt failed\n');
  t.is(await ok(['-n', ns, 'logs', 'crash', '--previous']), 'attempt failed\n');
});

test('`kubectl logs -f` during `kubectl delete pod` shows the lines the container wrote while shutting down', async (t) => {
  const ns = newNamespace('node-drain');
  await ok(['create', 'namespace', ns]);
  // A handler that logs on SIGTERM and exits at once: the last lines race the process exit.
  const script = 'trap "echo draining; echo stopped; exit 0" TERM; echo started; while true; do sleep 0.1; done';
  await ok(['-n', ns, 'run', 'drainer', '--image=busybox', '--', 'sh', '-c', script]);
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/drainer', '--timeout=60s']);
  const follow = cluster.kubectl(['-n', ns, 'logs', '-f', 'drainer'], { timeoutMs: 60_000 });
  await eventually('container logging', async () => (await ok(['-n', ns, 'logs', 'drainer'])).includes('started'));
  await ok(['-n', ns, 'delete', 'pod', 'drainer', '--wait=true']);
  const followed = await follow;
  t.is(followed.code, 0, followed.stderr);
  // (The shell may also report its killed `sleep` child as "Terminated" in between.)
  t.regex(followed.stdout, /^started\n(?:.*\n)*draining\nstopped\n$/);
});

test('volumes, env and identity: ConfigMap, Secret (0600), downward API, init containers, service account token', async (t) => {
  const ns = newNamespace('node-vol');
  await ok(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: ${ns}}
data: {greeting: hello, app.conf: "a=1"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec, namespace: ${ns}}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: ${ns}, labels: {app: demo}}
spec:
  initContainers:
  - {name: first, image: busybox, command: ["sh", "-c", "echo one >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
  - {name: second, image: busybox, command: ["sh", "-c", "echo two >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
  containers:
  - name: main
    image: alpine
    command: ["/bin/sleep", "infinity"]
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: sec, key: password}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MESSAGE, value: "$(GREETING) world"}
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: cfg, mountPath: /etc/demo}
    - {name: sec, mountPath: /etc/demo-secret, readOnly: true}
    - {name: info, mountPath: /etc/podinfo}
    - {name: istio-token, mountPath: /var/run/secrets/tokens}
  volumes:
  - {name: work, emptyDir: {}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
  - name: istio-token
    projected: {sources: [{serviceAccountToken: {audience: istio-ca, path: istio-token, expirationSeconds: 43200}}]}
`,
  );
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/app', '--timeout=120s']);
  const [p] = await pods(ns);
  const sh = async (script: string) => ok(['-n', ns, 'exec', 'app', '--', 'sh', '-c', script]);
  t.is(await sh('cat /work/order'), 'one\ntwo\n');
  t.is(await sh('echo $GREETING $PASSWORD $MESSAGE $MY_IP'), `hello s3cret hello world ${p!.status!.podIP}\n`);
  t.is(await sh('cat /etc/demo/greeting /etc/demo/app.conf'), 'helloa=1');
  t.is(await sh('stat -c %a /etc/demo-secret/password; cat /etc/demo-secret/password'), '600\ns3cret');
  t.is(await sh('cat /etc/podinfo/labels'), 'app="demo"');
  t.is(await sh('cat /var/run/secrets/kubernetes.io/serviceaccount/namespace'), ns);
  t.regex(await sh('head -1 /var/run/secrets/kubernetes.io/serviceaccount/ca.crt'), /BEGIN CERTIFICATE/);
  // The projected token is a JWT for the istio-ca audience; the service account token authenticates (403, not 401).
  const claims = JSON.parse(Buffer.from((await sh('cat /var/run/secrets/tokens/istio-token')).split('.')[1]!, 'base64url').toString()) as {
    aud: string[];
    sub: string;
  };
  t.deepEqual(claims.aud, ['istio-ca']);
  t.is(claims.sub, `system:serviceaccount:${ns}:default`);
  const code = await eventually('apiserver reachable from the pod', async () => {
    const r = await kubectl([
      '-n', ns, 'exec', 'app', '--', 'sh', '-c',
      'curl -s -o /dev/null -w "%{http_code}" --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt -H "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://kubernetes.default.svc/api/v1/namespaces/kube-system/secrets',
    ]);
    return r.code === 0 && r.stdout;
  });
  t.is(code, '403');
  // The host file system did not get the pod's mounts.
  t.false(existsSync('/etc/demo/greeting'));
});
