// An npm WaypointPlugin installed and run by a real waypoint pod on the local cluster's real nodes: the package is
// served over HTTP by a pod of the cluster (as a registry or an artifact server would), allowed by the mesh
// administrator's ConfigMap, fetched and integrity-checked by the waypoint into its writable emptyDir (the root file
// system stays read-only), and its hook changes the response a client in the mesh sees.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openMeshCluster, serverManifest, waitFor, type TestCluster } from '@ambit/cluster';

const NS = 'wpp-pod-it';
const REPO_NS = 'wpp-repo-it';
const PKG = 'wpp-real-hello';
const work = mkdtempSync(join(tmpdir(), 'ambit-wpp-pod-'));
let mesh: TestCluster | undefined;
const sh = (command: string, input?: string) => mesh!.sh(command, input);

function pack(): { file: string; integrity: string } {
  const dir = join(work, 'pkg');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: PKG, version: '1.0.0', type: 'module', main: 'index.js' }));
  writeFileSync(
    join(dir, 'index.js'),
    `export default class Hello { constructor() { this.name = 'hello'; } onRequest(ctx) { ctx.setResponseHeader('x-real-plugin', 'hello from ' + (ctx.destination.service?.hostname ?? 'nowhere')); } }\n`,
  );
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: dir, encoding: 'utf8' })) as Array<{ filename: string; integrity: string }>;
  return { file: join(work, info!.filename), integrity: info!.integrity };
}

test.before(async () => {
  mesh = await openMeshCluster({ namespaces: [NS, REPO_NS], alsoDelete: ['configmap ambit-plugin-policy -n istio-system'], commandTimeoutMs: 200_000 });
});

test.after.always(async () => {
  await mesh?.close();
  rmSync(work, { recursive: true, force: true });
});

test.serial('a WaypointPlugin from an HTTP server in the cluster is fetched, checked and run by the waypoint pod', async (t) => {
  const { file, integrity } = pack();
  // The artifact server: python's http.server in a namespace outside the mesh, serving the tarball from a ConfigMap.
  await sh(`kubectl create namespace ${REPO_NS}`);
  await sh(`kubectl create configmap plugin-tarball -n ${REPO_NS} --from-file=${PKG}-1.0.0.tgz=${file}`);
  await sh(
    'kubectl apply -f -',
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'plugin-repo', namespace: REPO_NS },
          spec: {
            selector: { matchLabels: { app: 'plugin-repo' } },
            template: {
              metadata: { labels: { app: 'plugin-repo' } },
              spec: {
                containers: [{ name: 'http', image: 'ambit/test-tools:0.1.0', command: ['python3', '-m', 'http.server', '8080', '--directory', '/repo'], volumeMounts: [{ name: 'repo', mountPath: '/repo' }], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }],
                volumes: [{ name: 'repo', configMap: { name: 'plugin-tarball' } }],
              },
            },
          },
        },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'plugin-repo', namespace: REPO_NS }, spec: { selector: { app: 'plugin-repo' }, ports: [{ port: 80, targetPort: 8080 }] } },
      ],
    }),
  );
  // The mesh: an ambient namespace, a server behind a waypoint, the sleep client.
  await sh(`kubectl create namespace ${NS}`);
  await sh(`kubectl label namespace ${NS} istio.io/dataplane-mode=ambient`);
  await sh(`kubectl apply -n ${NS} -f samples/manifests/sleep.yaml`);
  await sh(`kubectl apply -n ${NS} -f -`, serverManifest({ readinessPeriodSeconds: 1 }));
  const applied = await sh(`ambit waypoint apply -n ${NS} --wait`);
  t.regex(applied, new RegExp(`waypoint ${NS}/waypoint applied`));
  await sh(`kubectl label service server -n ${NS} istio.io/use-waypoint=waypoint`);
  await sh(`kubectl wait --for=condition=available deployment --all -n ${NS} --timeout=180s`);
  await sh(`kubectl wait --for=condition=available deployment/plugin-repo -n ${REPO_NS} --timeout=180s`);

  const source = `http://plugin-repo.${REPO_NS}.svc.cluster.local/`;
  await sh(
    'kubectl apply -f -',
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ambit-plugin-policy', namespace: 'istio-system' }, data: { packages: `${PKG}\n`, sources: `${source}\n` } }),
  );
  await sh(
    'kubectl apply -f -',
    JSON.stringify({
      apiVersion: 'extensions.ambit.dev/v1alpha1',
      kind: 'WaypointPlugin',
      metadata: { name: 'hello', namespace: NS },
      spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }], package: { name: PKG, version: '1.0.0', url: `${source}${PKG}-1.0.0.tgz`, integrity } },
    }),
  );
  const row = await waitFor(
    'kubectl get waypointplugin hello: Active True',
    async () => {
      const r = await mesh!.shell.run(`kubectl get waypointplugin hello -n ${NS} --no-headers`);
      return /\sTrue\s+Loaded\s/.test(r.stdout) ? r.stdout : undefined;
    },
    120_000,
    1000,
  );
  t.regex(row, /wpp-real-hello\s+1\.0\.0/);
  // Through the waypoint: the plugin's response header on what sleep gets back.
  const headers = await waitFor(
    'the plugin header on a response through the waypoint',
    async () => {
      const r = await mesh!.shell.run(`kubectl exec -n ${NS} deploy/sleep -- curl -s -D - -o /dev/null http://server/`);
      return /x-real-plugin: hello from server\./i.test(r.stdout) ? r.stdout : undefined;
    },
    60_000,
    1000,
  );
  t.regex(headers, /^HTTP\/1\.1 200/m);
  // Installed into the pod's writable volume, not its read-only root.
  const pod = (await sh(`kubectl get pods -n ${NS} -l gateway.networking.k8s.io/gateway-name=waypoint -o jsonpath={.items[0].metadata.name}`)).trim();
  const listing = await sh(`kubectl exec -n ${NS} ${pod} -- node -e "console.log(require('fs').readdirSync(process.env.AMBIT_PLUGINS_DIR).join(' '))"`);
  t.regex(listing, /wpp-real-hello/);
  t.log(readFileSync(file).length, 'bytes of tarball');
});
