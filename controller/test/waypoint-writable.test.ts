// The rendered waypoint Deployment keeps a read-only root file system yet gives the WaypointPlugin loader somewhere
// to write: an emptyDir at each place it writes (package versions, npm's cache, temporary files), and the env that
// points the loader and npm there naming exactly those mount paths.
import test from 'ava';
import { renderWaypoint, WAYPOINT_WRITABLE, type Gateway } from '../src/gateway/index.js';

interface Container {
  env: Array<{ name: string; value?: string }>;
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext: { readOnlyRootFilesystem?: boolean; runAsUser?: number };
}
interface PodSpec {
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: object }>;
}

const gw: Gateway = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'waypoint', namespace: 'bookinfo', uid: 'u1' },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
};

function pod(): PodSpec {
  return (renderWaypoint(gw, { version: '0.1.0' }).deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

test('the root file system stays read-only', (t) => {
  t.true(pod().containers[0]!.securityContext.readOnlyRootFilesystem);
});

test('the plugin directory, the npm cache and /tmp are writable emptyDirs named by the env the loader reads', (t) => {
  const spec = pod();
  const c = spec.containers[0]!;
  const env = new Map(c.env.map((e) => [e.name, e.value]));
  const emptyDirs = new Set(spec.volumes.filter((v) => v.emptyDir).map((v) => v.name));
  const writable = new Map(c.volumeMounts.filter((m) => emptyDirs.has(m.name) && !m.readOnly).map((m) => [m.mountPath, m.name]));
  // What the plugin loader (waypoint-runtime main, plugins/builtin loader.ts) and npm read, and where they write.
  const want = { AMBIT_PLUGINS_DIR: '/var/lib/ambit/plugins', npm_config_cache: '/var/lib/ambit/npm-cache', TMPDIR: '/tmp' };
  for (const [name, path] of Object.entries(want)) {
    t.is(env.get(name), path, `${name} points at ${path}`);
    t.truthy(writable.get(path), `an emptyDir is mounted writable at ${path}`);
  }
  t.deepEqual(WAYPOINT_WRITABLE.map((w) => w.mountPath).sort(), Object.values(want).sort());
  t.is(env.get('npm_config_update_notifier'), 'false');
});

test('the writable volumes are distinct and none hides the image\'s code', (t) => {
  const c = pod().containers[0]!;
  const paths = c.volumeMounts.map((m) => m.mountPath);
  t.is(new Set(paths).size, paths.length);
  for (const p of paths) t.false(p === '/' || p === '/app' || p.startsWith('/app/'), p);
});

test("the Gateway owner's plugins.ambit.dev/allowed-namespaces becomes AMBIT_PLUGIN_NAMESPACES; without it the waypoint gets none", (t) => {
  const envOf = (g: Gateway) => {
    const c = (renderWaypoint(g, { version: '0.1.0' }).deployment.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!;
    return new Map(c.env.map((e) => [e.name, e.value]));
  };
  t.false(envOf(gw).has('AMBIT_PLUGIN_NAMESPACES'));
  const shared = { ...gw, metadata: { ...gw.metadata, annotations: { 'plugins.ambit.dev/allowed-namespaces': ' tenant-a,tenant-b ' } } };
  t.is(envOf(shared).get('AMBIT_PLUGIN_NAMESPACES'), 'tenant-a,tenant-b');
});
