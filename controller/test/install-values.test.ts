// `ambit install` values: --hub/--tag and istioctl's --set forms parsed and checked, and the objects install would
// apply after they are applied (the real manifests for images, a fixture DaemonSet for the CNI directories).
import test from 'ava';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { customizeManifests, rewriteImage } from '../src/install/customize.js';
import { manifests, readManifestDir } from '../src/install/install.js';
import { InstallValuesError, parseInstallValues } from '../src/install/values.js';
import { VERSION } from '../src/install/version.js';
import { renderWaypoint, type Gateway } from '../src/gateway/index.js';
import type { KubeObject } from '../src/kube/resources.js';
import { WAYPOINT_NODE_OPTIONS, ZTUNNEL_NODE_OPTIONS } from '@ambit/mesh-api/plumbing';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'testdata', 'install');

interface Container {
  name: string;
  image: string;
  env?: Array<{ name: string; value?: string }>;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string; type?: string }; emptyDir?: object }>;
}
const podOf = (o: KubeObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const find = (objs: KubeObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;
const images = (objs: KubeObject[]) =>
  objs
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .flatMap((o) => [...(podOf(o).initContainers ?? []), ...podOf(o).containers].map((c) => c.image))
    .sort();
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
const hostPaths = (o: KubeObject) => Object.fromEntries((podOf(o).volumes ?? []).map((v) => [v.name, v.hostPath?.path ?? 'not a hostPath']));

function fails(t: import('ava').ExecutionContext, flags: Parameters<typeof parseInstallValues>[0], message: RegExp): void {
  const err = t.throws(() => parseInstallValues(flags), { instanceOf: InstallValuesError });
  t.regex(err!.message, message);
  t.false(err!.message.includes('\n'), 'one line');
}

// ---- parsing --------------------------------------------------------------------------------------------------

test('--hub/--tag and their istioctl spellings give the same values', (t) => {
  const want = { hub: 'registry.example.com:5000/team/ambit', tag: '0.2.0-rc.1' };
  t.deepEqual(parseInstallValues({ hub: 'registry.example.com:5000/team/ambit', tag: '0.2.0-rc.1' }), want);
  t.deepEqual(parseInstallValues({ set: ['hub=registry.example.com:5000/team/ambit', 'tag=0.2.0-rc.1'] }), want);
  t.deepEqual(parseInstallValues({ set: ['values.global.hub=registry.example.com:5000/team/ambit/', 'values.global.tag=0.2.0-rc.1'] }), want);
  t.deepEqual(parseInstallValues({ hub: 'localhost:5001' }), { hub: 'localhost:5001' });
  t.deepEqual(parseInstallValues({}), {});
});

test('CNI directories come from values.cni.cniBinDir / cniConfDir, normalised', (t) => {
  t.deepEqual(parseInstallValues({ set: ['values.cni.cniBinDir=/var/lib/rancher/k3s/data/current/bin/', 'values.cni.cniConfDir=/var/lib/rancher/k3s/agent/etc/cni/net.d'] }), {
    cniBinDir: '/var/lib/rancher/k3s/data/current/bin',
    cniConfDir: '/var/lib/rancher/k3s/agent/etc/cni/net.d',
  });
});

test('a hub that is no registry prefix is refused, naming the flag and the fix', (t) => {
  fails(t, { hub: 'my registry/ambit' }, /^--hub my registry\/ambit: "my registry\/ambit" is not an image registry prefix: use something like registry\.example\.com:5000\/ambit/);
  fails(t, { set: ['hub=registry.example.com/ambit:0.1.0'] }, /^--set hub=registry\.example\.com\/ambit:0\.1\.0: .* is not an image registry prefix/);
  fails(t, { hub: 'Ambit/images' }, /is not an image registry prefix/);
  fails(t, { hub: '' }, /is not an image registry prefix/);
});

test('a bad tag is refused', (t) => {
  fails(t, { tag: 'v1 beta' }, /^--tag v1 beta: "v1 beta" is not an image tag: use letters, digits/);
  fails(t, { set: ['tag=-x'] }, /^--set tag=-x: .* is not an image tag/);
});

test('a relative or root CNI directory is refused', (t) => {
  fails(t, { set: ['values.cni.cniBinDir=opt/cni/bin'] }, /^--set values\.cni\.cniBinDir=opt\/cni\/bin: "opt\/cni\/bin" must be an absolute directory on the nodes, e\.g\. \//);
  fails(t, { set: ['values.cni.cniConfDir=./net.d'] }, /^--set values\.cni\.cniConfDir=\.\/net\.d: .* must be an absolute directory/);
  fails(t, { set: ['values.cni.cniConfDir=/'] }, /is the node's root directory/);
});

test('an unknown --set key, or no value, is refused with the keys that exist', (t) => {
  fails(t, { set: ['values.cni.cniBindir=/opt/cni/bin'] }, /^--set values\.cni\.cniBindir=\/opt\/cni\/bin: unknown key "values\.cni\.cniBindir"; ambit install accepts hub, values\.global\.hub, tag, values\.global\.tag, values\.cni\.cniBinDir, values\.cni\.cniConfDir, components\.ingressGateways\[0\]\.enabled, components\.ingressGateways\[0\]\.name$/);
  fails(t, { set: ['profile=ambient'] }, /unknown key "profile"/);
  fails(t, { set: ['hub'] }, /^--set hub: expected key=value, e\.g\. --set hub=/);
});

test('two different values for one setting are refused', (t) => {
  fails(t, { hub: 'a.example.com/x', set: ['hub=b.example.com/x'] }, /^--set hub=b\.example\.com\/x contradicts --hub a\.example\.com\/x: give the value once$/);
  t.deepEqual(parseInstallValues({ tag: '1', set: ['tag=1'] }), { tag: '1' });
});

// ---- the objects install applies ----------------------------------------------------------------------------------

test('without values the manifests are applied as written', (t) => {
  const raw = manifests().objects;
  t.deepEqual(manifests(undefined, {}).objects, raw);
  const ctl = find(raw, 'Deployment', 'istiod');
  t.is(envOf(podOf(ctl).containers[0]!, 'AMBIT_WAYPOINT_IMAGE'), `ambit/waypoint:${VERSION}`);
});

test('--hub/--tag move every ambit image, the controller\'s waypoint image included', (t) => {
  const { objects } = manifests(undefined, { hub: 'registry.example.com/team', tag: '1.2.3' });
  t.true(images(objects).length >= 2);
  t.deepEqual(images(objects), images(manifests().objects).map((i) => i.replace(/^ambit\/([^:]+):.*$/, 'registry.example.com/team/$1:1.2.3')));
  t.true(images(objects).includes('registry.example.com/team/controller:1.2.3'));
  t.true(images(objects).includes('registry.example.com/team/ztunnel:1.2.3'));
  t.false(images(objects).some((i) => i.startsWith('ambit/')));
  const waypointImage = envOf(podOf(find(objects, 'Deployment', 'istiod')).containers[0]!, 'AMBIT_WAYPOINT_IMAGE');
  t.is(waypointImage, 'registry.example.com/team/waypoint:1.2.3');
  // What the controller (main.ts reads AMBIT_WAYPOINT_IMAGE) then renders for a waypoint Gateway.
  const gw: Gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'default', uid: 'u' }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } };
  t.is(podOf(renderWaypoint(gw, { version: VERSION, image: waypointImage }).deployment).containers[0]!.image, 'registry.example.com/team/waypoint:1.2.3');
});

test('--tag alone keeps the ambit hub; --hub alone keeps the release tag', (t) => {
  t.true(images(manifests(undefined, { tag: 'dev' }).objects).includes('ambit/controller:dev'));
  t.true(images(manifests(undefined, { hub: 'localhost:5001' }).objects).includes(`localhost:5001/controller:${VERSION}`));
});

test('only bare ambit/ images are rewritten', (t) => {
  const v = { hub: 'r.example.com/x', tag: '2' };
  t.is(rewriteImage('ambit/waypoint:0.1.0', v), 'r.example.com/x/waypoint:2');
  t.is(rewriteImage('ambit/waypoint', { hub: 'r.example.com/x' }), 'r.example.com/x/waypoint');
  t.is(rewriteImage('docker.io/ambit/controller:0.1.0', v), 'docker.io/ambit/controller:0.1.0');
  t.is(rewriteImage('ambitious/thing:1', v), 'ambitious/thing:1');
  t.is(rewriteImage('ambit/controller@sha256:0123', v), 'ambit/controller@sha256:0123');
  t.is(rewriteImage('registry.k8s.io/pause:3.10', v), 'registry.k8s.io/pause:3.10');
});

test('CNI directories rewrite the cni-bin-dir / cni-net-dir hostPaths of every DaemonSet, and nothing else', (t) => {
  const input = readManifestDir(fixtures);
  const before = structuredClone(input);
  const out = customizeManifests(input, { cniBinDir: '/var/lib/rancher/k3s/data/current/bin', cniConfDir: '/var/lib/rancher/k3s/agent/etc/cni/net.d' });
  t.deepEqual(input, before, 'the input objects are not modified');

  const cni = find(out, 'DaemonSet', 'istio-cni-node');
  t.deepEqual(hostPaths(cni), {
    'cni-bin-dir': '/var/lib/rancher/k3s/data/current/bin',
    'cni-net-dir': '/var/lib/rancher/k3s/agent/etc/cni/net.d',
    'cni-netns-dir': '/var/run/netns',
  });
  // The host path an agent writes into the CNI configuration follows; the path inside the container does not.
  const c = podOf(cni).containers[0]!;
  t.is(envOf(c, 'CNI_NET_DIR'), '/var/lib/rancher/k3s/agent/etc/cni/net.d');
  t.is(envOf(c, 'MOUNTED_CNI_NET_DIR'), '/host/etc/cni/net.d');
  t.is((find(out, 'ConfigMap', 'istio-cni-config').data as Record<string, string>).CNI_NET_DIR, '/var/lib/rancher/k3s/agent/etc/cni/net.d');
  t.is((find(out, 'ConfigMap', 'istio-cni-config').data as Record<string, string>).LOG_LEVEL, 'info');

  t.deepEqual(hostPaths(find(out, 'DaemonSet', 'other-agent')), { 'cni-net-dir': '/var/lib/rancher/k3s/agent/etc/cni/net.d', 'cni-bin-dir': 'not a hostPath' });
  t.deepEqual(hostPaths(find(out, 'Deployment', 'not-a-daemonset')), { 'cni-bin-dir': '/opt/cni/bin' });
});

test('one CNI directory alone leaves the other as written', (t) => {
  const out = customizeManifests(readManifestDir(fixtures), { cniConfDir: '/etc/kubernetes/cni/net.d' });
  t.deepEqual(hostPaths(find(out, 'DaemonSet', 'istio-cni-node')), { 'cni-bin-dir': '/opt/cni/bin', 'cni-net-dir': '/etc/kubernetes/cni/net.d', 'cni-netns-dir': '/var/run/netns' });
});

test('images in the fixture: init containers too, foreign and registry-qualified ones untouched', (t) => {
  const out = customizeManifests(readManifestDir(fixtures), { hub: 'r.example.com/x', tag: '9' });
  t.deepEqual(images(out), ['docker.io/ambit/controller:0.1.0', 'r.example.com/x/ztunnel:9', 'r.example.com/x/ztunnel:9', 'registry.k8s.io/pause:3.10']);
});

test('the proxies run with the Node options their benches measure: the ztunnel DaemonSet and a rendered waypoint', (t) => {
  const ztunnel = podOf(find(manifests().objects, 'DaemonSet', 'ztunnel')).containers.find((c) => c.name === 'istio-proxy')!;
  t.is(envOf(ztunnel, 'NODE_OPTIONS'), ZTUNNEL_NODE_OPTIONS);
  t.regex(ZTUNNEL_NODE_OPTIONS, /^--max-semi-space-size=\d+$/);
  const gw: Gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'default', uid: 'u' }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } };
  t.is(envOf(podOf(renderWaypoint(gw, { version: VERSION }).deployment).containers[0]!, 'NODE_OPTIONS'), WAYPOINT_NODE_OPTIONS);
});
