// Unit: the command lines, kubeconfigs and add-on manifests of the local cluster (no root, no cluster).
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import {
  apiserverCommand,
  controllerManagerCommand,
  etcdCommand,
  kubeProxyCommand,
  schedulerCommand,
  type ComponentPaths,
} from '../src/controlplane/components.js';
import { corednsManifest, corefile, COREDNS_IMAGE } from '../src/controlplane/addons.js';
import { renderKubeconfig } from '../src/controlplane/kubeconfig.js';
import type { ClusterPKI } from '../src/pki.js';

const files = (n: string) => ({ certFile: `/s/pki/${n}.crt`, keyFile: `/s/pki/${n}.key` });
const pki = {
  dir: '/s/pki',
  ca: files('ca'),
  apiserver: files('apiserver'),
  admin: files('admin'),
  kubeletClient: files('apiserver-kubelet-client'),
  serviceAccount: { certFile: '/s/pki/sa.pub', keyFile: '/s/pki/sa.key' },
  kubelets: {},
  caPem: 'CA',
  adminCertPem: 'CERT',
  adminKeyPem: 'KEY',
} satisfies ClusterPKI;
const paths: ComponentPaths = {
  stateDir: '/s',
  binDir: '/bin/k8s',
  pki,
  kubeconfigs: { controllerManager: '/s/kcm.conf', scheduler: '/s/sched.conf', kubeProxy: '/s/proxy.conf' },
};

test('etcd: loopback only, no fsync, data in the state dir', (t) => {
  const c = etcdCommand(paths);
  t.is(c.cmd, '/bin/k8s/etcd');
  t.true(c.args.includes('--unsafe-no-fsync'));
  t.true(c.args.includes('--data-dir=/s/etcd'));
  for (const a of c.args.filter((x) => x.includes('://'))) t.regex(a, /http:\/\/127\.0\.0\.1:\d+/);
});

test('kube-apiserver: RBAC + Node authz, service range, SA keys, kubelet client TLS', (t) => {
  const a = apiserverCommand(paths).args;
  for (const flag of [
    '--bind-address=0.0.0.0',
    '--advertise-address=10.244.0.1',
    '--secure-port=6443',
    '--authorization-mode=Node,RBAC',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--client-ca-file=/s/pki/ca.crt',
    '--service-account-key-file=/s/pki/sa.pub',
    '--service-account-signing-key-file=/s/pki/sa.key',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--kubelet-client-certificate=/s/pki/apiserver-kubelet-client.crt',
    '--kubelet-client-key=/s/pki/apiserver-kubelet-client.key',
    '--kubelet-certificate-authority=/s/pki/ca.crt',
    '--allow-privileged=true',
  ]) {
    t.true(a.includes(flag), flag);
  }
  // The ServiceAccount admission plugin stays on (it is a default; nothing disables it).
  t.false(a.some((x) => x.startsWith('--disable-admission-plugins')));
});

test('kube-controller-manager: node CIDRs, every default controller, SA tokens, no leader election', (t) => {
  const a = controllerManagerCommand(paths).args;
  for (const flag of [
    '--allocate-node-cidrs=true',
    '--cluster-cidr=10.244.0.0/16',
    '--node-cidr-mask-size=24',
    '--controllers=*',
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    '--service-account-private-key-file=/s/pki/sa.key',
    '--root-ca-file=/s/pki/ca.crt',
    '--kubeconfig=/s/kcm.conf',
    // The bridge's own subnet is never a node's pod CIDR.
    '--service-cluster-ip-range=10.244.0.0/24',
  ]) {
    t.true(a.includes(flag), flag);
  }
});

test('kube-scheduler and kube-proxy', (t) => {
  t.true(schedulerCommand(paths).args.includes('--leader-elect=false'));
  const p = kubeProxyCommand(paths, { hostname: 'ambit-node-1', masqueradeAll: false }).args;
  for (const flag of ['--proxy-mode=iptables', '--cluster-cidr=10.244.0.0/16', '--hostname-override=ambit-node-1', '--conntrack-max-per-core=0']) {
    t.true(p.includes(flag), flag);
  }
  t.false(p.includes('--masquerade-all'));
  t.true(kubeProxyCommand(paths, { hostname: 'n', masqueradeAll: true }).args.includes('--masquerade-all'));
});

test('kubeconfig embeds the CA and the client certificate', (t) => {
  const kc = parse(renderKubeconfig({ server: 'https://127.0.0.1:6443', caPem: 'CA', certPem: 'CERT', keyPem: 'KEY' })) as {
    clusters: Array<{ cluster: Record<string, string> }>;
    users: Array<{ user: Record<string, string> }>;
    'current-context': string;
  };
  t.is(kc.clusters[0]!.cluster.server, 'https://127.0.0.1:6443');
  t.is(Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(), 'CA');
  t.is(Buffer.from(kc.users[0]!.user['client-key-data']!, 'base64').toString(), 'KEY');
  t.is(kc['current-context'], 'ambit');
});

test('CoreDNS: kube-dns at 10.96.0.10, cluster.local, no upstream forwarding', (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are checked field by field below
  type Doc = { kind: string; spec?: any; data?: any };
  const docs = parseAllDocuments(corednsManifest()).map((d) => d.toJS() as Doc);
  t.deepEqual(docs.map((d) => d.kind), ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Service']);
  const svc = docs.find((d) => d.kind === 'Service')!;
  t.is(svc.spec.clusterIP, '10.96.0.10');
  t.deepEqual(svc.spec.ports.filter((p: { port: number }) => p.port === 53).map((p: { protocol: string }) => p.protocol).sort(), ['TCP', 'UDP']);
  const cm = docs.find((d) => d.kind === 'ConfigMap')!;
  t.is(cm.data.Corefile, corefile);
  t.regex(corefile, /kubernetes cluster\.local in-addr\.arpa/);
  t.notRegex(corefile, /forward/);
  const deploy = docs.find((d) => d.kind === 'Deployment')!;
  t.is(deploy.spec.template.spec.containers[0].image, COREDNS_IMAGE);
});
