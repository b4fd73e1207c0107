// `ambit install --addons prometheus`: the flag checked before the cluster is contacted, the Prometheus add-on's
// objects (samples/addons/prometheus.yaml, image from --hub/--tag), its scrape configuration finding the ztunnel,
// waypoint and controller pods at the port and path each serves its metrics on, istioctl's component line, and
// uninstall removing it.
import test from 'ava';
import { readdirSync } from 'node:fs';
import { parse } from 'yaml';
import { ADDONS, ADDON_DIR } from '../src/install/addons.js';
import { install, manifests, uninstall } from '../src/install/install.js';
import { InstallValuesError, parseInstallValues } from '../src/install/values.js';
import { VERSION } from '../src/install/version.js';
import { runCli } from '../src/cli/run.js';
import { renderWaypoint, type Gateway } from '../src/gateway/index.js';
import { KubeClient } from '../src/kube/client.js';
import type { KubeObject, ResourceType } from '../src/kube/resources.js';
import { FakeApiServer } from './fake-apiserver.js';

interface Container {
  image: string;
  args?: string[];
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  readinessProbe?: { httpGet?: { path: string; port: number } };
}
interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { serviceAccountName?: string; securityContext?: { runAsUser?: number; runAsNonRoot?: boolean }; containers: Container[]; volumes?: Array<{ name: string; emptyDir?: object; configMap?: { name: string } }> };
}
const templateOf = (o: KubeObject) => (o.spec as { template: PodTemplate }).template;
const addonObjects = (objs: KubeObject[]) => objs.filter((o) => o.metadata.labels?.app === 'prometheus' || o.metadata.name === 'prometheus');
const ids = (objs: KubeObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`);

// ---- the flag ------------------------------------------------------------------------------------------------

test('--addons names the add-ons to install, each once, comma-separated or repeated', (t) => {
  t.deepEqual(parseInstallValues({ addons: ['prometheus'] }).addons, ['prometheus']);
  t.deepEqual(parseInstallValues({ addons: ['prometheus,prometheus', ' prometheus '] }).addons, ['prometheus']);
  t.is(parseInstallValues({}).addons, undefined);
});

test('an unknown add-on is one line listing the known ones', (t) => {
  const err = t.throws(() => parseInstallValues({ addons: ['prometheus,kiali'] }), { instanceOf: InstallValuesError });
  t.is(err!.message, '--addons kiali: unknown add-on "kiali"; the known add-ons are: prometheus');
  const empty = t.throws(() => parseInstallValues({ addons: [','] }), { instanceOf: InstallValuesError });
  t.is(empty!.message, '--addons: no add-on named; the known add-ons are: prometheus');
});

test('ambit install --addons grafana exits 2 with one line and never contacts the cluster', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  t.teardown(() => api.stop());
  let out = '';
  let err = '';
  const code = await runCli(['install', '--addons', 'grafana'], { out: (s) => (out += s), err: (s) => (err += s), env: { HOME: '/nonexistent' }, client });
  t.is(code, 2);
  t.is(err, 'Error: --addons grafana: unknown add-on "grafana"; the known add-ons are: prometheus\n');
  t.is(out, '');
  t.deepEqual(api.requests, []);
});

test('ambit install --help lists the add-ons', async (t) => {
  let out = '';
  t.is(await runCli(['install', '--help'], { out: (s) => (out += s), err: () => {}, env: { HOME: '/nonexistent' } }), 0);
  t.regex(out, /--addons <names>/);
  t.regex(out, /^ {2}prometheus {2,}Prometheus in istio-system/m);
});

test('every known add-on has its manifest in samples/addons, and every manifest there is a known add-on', (t) => {
  t.deepEqual(readdirSync(ADDON_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, '')).sort(), [...ADDONS].sort());
});

// ---- the rendered objects --------------------------------------------------------------------------------------

test('without --addons no Prometheus is installed', (t) => {
  t.deepEqual(addonObjects(manifests(undefined, {}).objects), []);
});

test("the Prometheus add-on: Istio's objects in istio-system, read access to pods cluster-wide, after ztunnel", (t) => {
  const { objects } = manifests(undefined, parseInstallValues({ addons: ['prometheus'] }));
  const mine = addonObjects(objects);
  t.deepEqual(ids(mine), ['ServiceAccount/prometheus', 'ClusterRole/prometheus', 'ClusterRoleBinding/prometheus', 'ConfigMap/prometheus', 'Deployment/prometheus', 'Service/prometheus']);
  for (const o of mine) if (!o.kind!.startsWith('Cluster')) t.is(o.metadata.namespace, 'istio-system', `${o.kind}`);
  t.true(objects.findIndex((o) => o.kind === 'DaemonSet' && o.metadata.name === 'ztunnel') < objects.indexOf(mine[0]!));

  const role = mine[1] as KubeObject & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
  const allows = (group: string, resource: string) => role.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && ['get', 'list', 'watch'].every((v) => r.verbs.includes(v)));
  for (const [g, r] of [['', 'pods'], ['', 'services'], ['', 'endpoints'], ['', 'nodes'], ['discovery.k8s.io', 'endpointslices']] as const) t.true(allows(g, r), `${g}/${r}`);
  t.false(role.rules.some((r) => r.verbs.some((v) => !['get', 'list', 'watch'].includes(v))), 'read-only');
  t.like(mine[2], { roleRef: { kind: 'ClusterRole', name: 'prometheus' }, subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: 'istio-system' }] } as object);

  const tpl = templateOf(mine[4]!);
  t.is(tpl.metadata.labels?.app, 'prometheus');
  t.is(tpl.metadata.labels?.['istio.io/dataplane-mode'], 'none');
  t.is(tpl.spec.serviceAccountName, 'prometheus');
  t.like(tpl.spec.securityContext, { runAsUser: 65534, runAsNonRoot: true });
  const c = tpl.spec.containers[0]!;
  t.is(c.image, `ambit/prometheus:${VERSION}`);
  t.deepEqual(c.ports, [{ name: 'http', containerPort: 9090, protocol: 'TCP' }] as unknown as Container['ports']);
  t.deepEqual(c.readinessProbe?.httpGet, { path: '/-/ready', port: 9090 });
  // The config from the ConfigMap, the data in an emptyDir: both where the arguments point.
  const mountOf = (path: string) => c.volumeMounts?.find((m) => m.mountPath === path)?.name;
  const arg = (flag: string) => c.args?.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const configDir = arg('--config.file')!.replace(/\/prometheus\.yml$/, '');
  t.deepEqual(tpl.spec.volumes?.find((v) => v.name === mountOf(configDir))?.configMap, { name: 'prometheus' });
  t.deepEqual(tpl.spec.volumes?.find((v) => v.name === mountOf(arg('--storage.tsdb.path')!))?.emptyDir, {});

  t.like(mine[5]!.spec as object, { selector: { app: 'prometheus' }, ports: [{ name: 'http', port: 9090, targetPort: 9090 }] });
});

test('--hub and --tag move the Prometheus image with the others', (t) => {
  const { objects } = manifests(undefined, parseInstallValues({ hub: 'registry.example.com/ambit', tag: '9.9.9', addons: ['prometheus'] }));
  t.is(templateOf(objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'prometheus')!).spec.containers[0]!.image, 'registry.example.com/ambit/prometheus:9.9.9');
});

// ---- the scrape configuration, evaluated on our own pods -------------------------------------------------------

interface Relabel {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
  action?: string;
}
interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  honor_labels?: boolean;
  kubernetes_sd_configs?: Array<{ role: string }>;
  relabel_configs?: Relabel[];
}

/** Prometheus' relabelling (the actions the add-on uses; regexes anchored as Prometheus anchors them). */
function relabel(input: Record<string, string>, rules: Relabel[]): Record<string, string> | undefined {
  const l = { ...input };
  for (const r of rules) {
    const action = r.action ?? 'replace';
    const re = new RegExp(`^(?:${r.regex ?? '(.*)'})$`);
    const value = (r.source_labels ?? []).map((s) => l[s] ?? '').join(r.separator ?? ';');
    const expand = (m: RegExpExecArray) => (r.replacement ?? '$1').replace(/\$\{?(\d+)\}?/g, (_, i: string) => m[Number(i)] ?? '');
    if (action === 'keep' && !re.test(value)) return undefined;
    if (action === 'drop' && re.test(value)) return undefined;
    if (action === 'replace') {
      const m = re.exec(value);
      if (m) l[r.target_label!] = expand(m);
    }
    if (action === 'labelmap') {
      for (const [k, v] of Object.entries(l)) {
        const m = re.exec(k);
        if (m) l[expand(m)] = v;
      }
    }
  }
  return l;
}

/** The meta labels Kubernetes pod discovery gives a running pod (one target per container port). */
function podMeta(namespace: string, name: string, ip: string, tpl: PodTemplate, port: number): Record<string, string> {
  const sanitize = (k: string) => k.replace(/[^a-zA-Z0-9_]/g, '_');
  const meta: Record<string, string> = {
    __address__: `${ip}:${port}`,
    __scheme__: 'http',
    __metrics_path__: '/metrics',
    __meta_kubernetes_namespace: namespace,
    __meta_kubernetes_pod_name: name,
    __meta_kubernetes_pod_ip: ip,
    __meta_kubernetes_pod_phase: 'Running',
    __meta_kubernetes_pod_node_name: 'node-1',
  };
  for (const [k, v] of Object.entries(tpl.metadata.labels ?? {})) meta[`__meta_kubernetes_pod_label_${sanitize(k)}`] = v;
  for (const [k, v] of Object.entries(tpl.metadata.annotations ?? {})) meta[`__meta_kubernetes_pod_annotation_${sanitize(k)}`] = v;
  return meta;
}

const scrapeConfig = () => {
  const cm = manifests(undefined, { addons: ['prometheus'] }).objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'prometheus')!;
  return parse((cm.data as Record<string, string>)['prometheus.yml']!) as { global: { scrape_interval: string }; scrape_configs: ScrapeConfig[] };
};

/** Where the kubernetes-pods job scrapes a pod: `http://ip:port/path`, with its target labels, or undefined. */
function scrapeTarget(tpl: PodTemplate, namespace: string, name: string, ip: string) {
  const job = scrapeConfig().scrape_configs.find((j) => j.job_name === 'kubernetes-pods')!;
  const ports = tpl.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
  const targets = ports.map((p) => relabel(podMeta(namespace, name, ip, tpl, p), job.relabel_configs!)).filter((x) => x !== undefined);
  const urls = [...new Set(targets.map((l) => `${l.__scheme__}://${l.__address__}${l.__metrics_path__}`))];
  return { urls, labels: targets[0] };
}

test("Istio's addon scrape job: pods annotated prometheus.io/scrape, every 15 s, with honor_labels", (t) => {
  const cfg = scrapeConfig();
  t.is(cfg.global.scrape_interval, '15s');
  const job = cfg.scrape_configs.find((j) => j.job_name === 'kubernetes-pods')!;
  t.deepEqual(job.kubernetes_sd_configs, [{ role: 'pod' }]);
  t.true(job.honor_labels);
  const slow = cfg.scrape_configs.find((j) => j.job_name === 'kubernetes-pods-slow')!;
  t.is(slow.scrape_interval, '5m');
});

test('the ztunnel pods are scraped at :15020/metrics, with their namespace, pod and labels', (t) => {
  const ds = manifests().objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'ztunnel')!;
  const { urls, labels } = scrapeTarget(templateOf(ds), 'istio-system', 'ztunnel-abcde', '10.244.1.7');
  t.deepEqual(urls, ['http://10.244.1.7:15020/metrics']);
  t.like(labels, { namespace: 'istio-system', pod: 'ztunnel-abcde', app: 'ztunnel', node: 'node-1' });
});

test('the waypoint pods are scraped at :15020/stats/prometheus', (t) => {
  const gw: Gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'default', uid: 'u1' }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } };
  const dep = renderWaypoint(gw, { version: VERSION }).deployment;
  const { urls, labels } = scrapeTarget(templateOf(dep), 'default', 'waypoint-5d9f-xyz', '10.244.2.9');
  t.deepEqual(urls, ['http://10.244.2.9:15020/stats/prometheus']);
  t.like(labels, { namespace: 'default', pod: 'waypoint-5d9f-xyz' });
});

test('the controller pod is scraped at :15014/metrics', (t) => {
  const dep = manifests().objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'istiod')!;
  const { urls, labels } = scrapeTarget(templateOf(dep), 'istio-system', 'istiod-1', '10.244.1.3');
  t.deepEqual(urls, ['http://10.244.1.3:15014/metrics']);
  t.like(labels, { app: 'istiod', istio: 'pilot' });
});

test('a pod without the scrape annotation, or not running, is not scraped', (t) => {
  const tpl: PodTemplate = { metadata: { labels: { app: 'x' }, annotations: { 'prometheus.io/port': '8080' } }, spec: { containers: [{ image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] } };
  t.deepEqual(scrapeTarget(tpl, 'default', 'x', '10.244.1.9').urls, []);
  const job = scrapeConfig().scrape_configs.find((j) => j.job_name === 'kubernetes-pods')!;
  const annotated = { ...tpl, metadata: { ...tpl.metadata, annotations: { 'prometheus.io/scrape': 'true' } } };
  t.is(relabel({ ...podMeta('default', 'x', '10.244.1.9', annotated, 8080), __meta_kubernetes_pod_phase: 'Succeeded' }, job.relabel_configs!), undefined);
});

// ---- install and uninstall against a recording client -------------------------------------------------------

function recordingClient() {
  const applied: string[] = [];
  const deleted: string[] = [];
  const client = {
    request: async () => ({}),
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

test("install --addons prometheus applies it and prints istioctl's Addons line after Ztunnel", async (t) => {
  const { client, applied } = recordingClient();
  const lines: string[] = [];
  await install(client, { values: parseInstallValues({ addons: ['prometheus'] }), log: (l) => lines.push(l) });
  for (const o of ['ClusterRole/prometheus', 'ConfigMap/prometheus', 'Deployment/prometheus', 'Service/prometheus']) t.true(applied.includes(o), o);
  t.true(lines.includes('deployment/prometheus -n istio-system applied'));
  t.deepEqual(
    lines.filter((l) => l.startsWith('\u2714')),
    ['\u2714 Istio core installed', '\u2714 Istiod installed', '\u2714 CNI installed', '\u2714 Ztunnel installed', '\u2714 Addons installed', '\u2714 Installation complete'],
  );
});

test('uninstall --purge removes the add-on, its cluster-wide RBAC too', async (t) => {
  const { client, deleted } = recordingClient();
  const lines: string[] = [];
  await uninstall(client, { purge: true, log: (l) => lines.push(l) });
  for (const o of ['ServiceAccount/prometheus', 'ClusterRole/prometheus', 'ClusterRoleBinding/prometheus', 'ConfigMap/prometheus', 'Deployment/prometheus', 'Service/prometheus']) t.true(deleted.includes(o), o);
  t.true(lines.includes('clusterrole/prometheus deleted'));
  // Reverse install order: the add-on goes before the mesh it scrapes.
  t.true(deleted.indexOf('Deployment/prometheus') < deleted.indexOf('DaemonSet/ztunnel'));
});
