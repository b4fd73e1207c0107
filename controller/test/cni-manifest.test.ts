// The istio-cni-node DaemonSet in the install manifests: what the node agent needs to work on a real node (host
// network and PIDs, privileged, the host dirs at the paths its defaults expect, netns propagation, readiness),
// and RBAC that allows exactly what it does (pods/namespaces read, annotation patch, its own DaemonSet get).
import test from 'ava';
import { manifests } from '../src/install/install.js';
import type { KubeObject } from '../src/kube/resources.js';

const { objects } = manifests();

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  securityContext?: { privileged?: boolean };
  readinessProbe?: { exec?: { command: string[] } };
  volumeMounts: { name: string; mountPath: string; mountPropagation?: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  priorityClassName?: string;
  tolerations?: unknown[];
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string } }[];
}
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const ds = find('DaemonSet', 'istio-cni-node') as (KubeObject & { spec: { template: { spec: PodSpec } } }) | undefined;

test('istio-cni-node: the node agent image and mode, host network and PIDs, privileged, node-critical', (t) => {
  t.truthy(ds);
  t.is(ds!.metadata.namespace, 'istio-system');
  const spec = ds!.spec.template.spec;
  const c = spec.containers[0]!;
  t.regex(c.image, /^ambit\/ztunnel:/);
  t.deepEqual(c.args, ['cni-agent']);
  t.true(spec.hostNetwork);
  t.true(spec.hostPID);
  t.true(c.securityContext?.privileged);
  t.is(spec.priorityClassName, 'system-node-critical');
  const zt = find('DaemonSet', 'ztunnel') as (KubeObject & { spec: { template: { spec: PodSpec } } }) | undefined;
  t.deepEqual(spec.tolerations, zt!.spec.template.spec.tolerations, 'tolerations like ztunnel’s');
  t.deepEqual(c.readinessProbe?.exec?.command, ['test', '-e', c.env!.find((e) => e.name === 'READY_FILE')!.value!]);
});

test('istio-cni-node: host dirs mounted where the agent looks, netns with HostToContainer propagation', (t) => {
  const spec = ds!.spec.template.spec;
  const c = spec.containers[0]!;
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  const hostPathAt = (mountPath: string) => {
    const m = c.volumeMounts.find((v) => v.mountPath === mountPath);
    return { host: spec.volumes.find((v) => v.name === m?.name)?.hostPath?.path, propagation: m?.mountPropagation, volume: m?.name };
  };
  t.deepEqual(hostPathAt(env.MOUNTED_CNI_BIN_DIR!), { host: '/opt/cni/bin', propagation: undefined, volume: 'cni-bin-dir' });
  t.deepEqual(hostPathAt(env.MOUNTED_CNI_NET_DIR!), { host: env.CNI_NET_DIR, propagation: undefined, volume: 'cni-net-dir' });
  t.deepEqual(hostPathAt('/var/run/netns'), { host: '/var/run/netns', propagation: 'HostToContainer', volume: 'cni-netns-dir' });
  t.is(hostPathAt('/var/run/istio-cni').host, '/var/run/istio-cni');
  t.true(env.CNI_EVENT_ADDRESS!.startsWith('/var/run/istio-cni/'));
  t.is(hostPathAt('/var/run/ztunnel').host, '/var/run/ztunnel');
  t.true(env.ZDS_SOCKET!.startsWith('/var/run/ztunnel/'));
});

test('istio-cni RBAC: what the agent does, nothing more', (t) => {
  const sa = ds!.spec.template.spec.serviceAccountName;
  t.truthy(find('ServiceAccount', sa));
  const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && (o as unknown as { subjects: { name: string }[] }).subjects.some((s) => s.name === sa)) as unknown as { roleRef: { name: string } };
  const role = find('ClusterRole', binding.roleRef.name) as unknown as { rules: Rule[] };
  const roleBinding = objects.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'istio-system' && (o as unknown as { subjects: { name: string }[] }).subjects.some((s) => s.name === sa)) as unknown as { roleRef: { name: string } };
  const nsRole = objects.find((o) => o.kind === 'Role' && o.metadata.namespace === 'istio-system' && o.metadata.name === roleBinding.roleRef.name) as unknown as { rules: Rule[] };
  const allows = (rules: Rule[], g: string, r: string, v: string) => rules.some((x) => x.apiGroups.includes(g) && x.resources.includes(r) && x.verbs.includes(v));
  for (const [r, v] of [['pods', 'watch'], ['pods', 'get'], ['namespaces', 'list'], ['namespaces', 'get'], ['pods/status', 'patch'], ['pods', 'patch']]) t.true(allows(role.rules, '', r!, v!), `${v} ${r}`);
  t.true(allows(nsRole.rules, 'apps', 'daemonsets', 'get'), 'its own DaemonSet, for the uninstall check');
  t.false(allows(role.rules, 'apps', 'daemonsets', 'get'), 'daemonsets only in istio-system');
  for (const rules of [role.rules, nsRole.rules]) {
    t.false(rules.some((x) => x.verbs.includes('*') || x.resources.includes('*') || x.resources.includes('secrets')));
    t.false(rules.some((x) => x.verbs.some((v) => ['create', 'update', 'delete'].includes(v))));
  }
});
