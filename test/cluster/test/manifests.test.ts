// serverManifest: the objects the cluster tests deploy are the ones their hand-written manifests declared, and the
// text still concatenates with `---` as theirs did.
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { serverManifest } from '../src/index.js';

const objects = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as unknown).filter((o) => o !== null);

test('the default is the python http.server behind Service server, port 80 -> 8080, pinned when asked', (t) => {
  const expected = (node?: string) => objects(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: server}
---
apiVersion: v1
kind: Service
metadata: {name: server, labels: {app: server}}
spec:
  selector: {app: server}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      serviceAccountName: server
${node ? `      nodeSelector: {kubernetes.io/hostname: ${node}}\n` : ''}      terminationGracePeriodSeconds: 0
      containers:
      - name: server
        image: ambit/test-tools:0.1.0
        command: ["python3", "-m", "http.server", "8080"]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
`);
  t.deepEqual(objects(serverManifest()), expected());
  t.deepEqual(objects(serverManifest({ node: 'ambit-node-1' })), expected('ambit-node-1'));
});

test('a client: no Service, no port, no readiness probe; its command as given, however it is quoted', (t) => {
  const loop = `while true; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://server/); echo "$(date +%s.%N | cut -c1-14) $c"; sleep 0.25; done`;
  t.deepEqual(objects(serverManifest({ name: 'prober', node: 'ambit-node-2', command: ['sh', '-c', loop], port: false })), objects(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: prober}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prober}
spec:
  replicas: 1
  selector: {matchLabels: {app: prober}}
  template:
    metadata: {labels: {app: prober}}
    spec:
      serviceAccountName: prober
      nodeSelector: {kubernetes.io/hostname: ambit-node-2}
      terminationGracePeriodSeconds: 0
      containers:
      - name: prober
        image: ambit/test-tools:0.1.0
        command: ["sh", "-c", ${JSON.stringify(loop)}]
`));
});

test('a bare Pod in a namespace with labels, its own Service port, and a body served at /', (t) => {
  type Pod = { kind: string; metadata: object; spec: { containers: Array<{ command: string[]; readinessProbe: object }> } };
  const [sa, svc, pod] = objects(serverManifest({ name: 'web', namespace: 'n1', pod: true, labels: { version: 'v1' }, body: "served by n1's web", service: { port: 8080, name: 'http' }, readinessPeriodSeconds: 1 })) as [object, { spec: object }, Pod];
  t.deepEqual(sa, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'n1' } });
  t.deepEqual(svc.spec, { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] });
  t.like(pod, { kind: 'Pod', metadata: { name: 'web', namespace: 'n1', labels: { app: 'web', version: 'v1' } } });
  const c = pod.spec.containers[0]!;
  t.deepEqual(c.readinessProbe, { tcpSocket: { port: 8080 }, periodSeconds: 1 });
  // The page the pod writes: the echo of its command, run by a shell as the container's would.
  const echo = /^mkdir -p \/tmp\/w && (echo .*) > \/tmp\/w\/index\.html && cd \/tmp\/w && exec python3 -m http\.server 8080$/.exec(c.command[2])?.[1];
  t.deepEqual(c.command.slice(0, 2), ['sh', '-c']);
  t.is(execFileSync('sh', ['-c', echo!], { encoding: 'utf8' }), "served by n1's web\n");
});

test('concatenated with `---` (as the tests join manifests), every object survives', (t) => {
  const text = serverManifest({ name: 'a' }) + '---' + serverManifest({ name: 'b', port: false });
  t.deepEqual(objects(text).map((o) => `${(o as { kind: string }).kind}/${(o as { metadata: { name: string } }).metadata.name}`), [
    'ServiceAccount/a',
    'Service/a',
    'Deployment/a',
    'ServiceAccount/b',
    'Deployment/b',
  ]);
});
