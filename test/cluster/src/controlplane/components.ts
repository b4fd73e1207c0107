// Command lines of the control plane components. Every component gets its own kubeconfig (all with the admin
// client certificate) and logs to <stateDir>/logs/<component>.log.
import { join } from 'node:path';
import type { ClusterPKI } from '../pki.js';
import { net, ports } from './paths.js';

export interface ComponentPaths {
  stateDir: string;
  binDir: string;
  pki: ClusterPKI;
  kubeconfigs: Record<'controllerManager' | 'scheduler' | 'kubeProxy', string>;
}

export interface Command {
  name: string;
  cmd: string;
  args: string[];
}

export const serviceAccountIssuer = `https://kubernetes.default.svc.${net.clusterDomain}`;

export function etcdCommand(p: Pick<ComponentPaths, 'stateDir' | 'binDir'>): Command {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return {
    name: 'etcd',
    cmd: join(p.binDir, 'etcd'),
    args: [
      '--name=ambit',
      `--data-dir=${join(p.stateDir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=ambit=${peer}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
  };
}

export function apiserverCommand(p: ComponentPaths): Command {
  const { pki } = p;
  return {
    name: 'kube-apiserver',
    cmd: join(p.binDir, 'kube-apiserver'),
    args: [
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      '--bind-address=0.0.0.0',
      `--advertise-address=${net.gateway}`,
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${join(p.stateDir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.apiserver.certFile}`,
      `--tls-private-key-file=${pki.apiserver.keyFile}`,
      `--client-ca-file=${pki.ca.certFile}`,
      '--authorization-mode=Node,RBAC',
      `--service-cluster-ip-range=${net.serviceCidr}`,
      `--service-account-issuer=${serviceAccountIssuer}`,
      `--service-account-key-file=${pki.serviceAccount.certFile}`,
      `--service-account-signing-key-file=${pki.serviceAccount.keyFile}`,
      `--kubelet-client-certificate=${pki.kubeletClient.certFile}`,
      `--kubelet-client-key=${pki.kubeletClient.keyFile}`,
      `--kubelet-certificate-authority=${pki.ca.certFile}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--allow-privileged=true',
      // Defaults (NamespaceLifecycle, LimitRanger, ServiceAccount, ResourceQuota, webhooks, ...) plus NodeRestriction.
      '--enable-admission-plugins=NodeRestriction',
      '--profiling=false',
      '--v=1',
    ],
  };
}

export function controllerManagerCommand(p: ComponentPaths): Command {
  const kc = p.kubeconfigs.controllerManager;
  return {
    name: 'kube-controller-manager',
    cmd: join(p.binDir, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.controllerManager}`,
      `--cert-dir=${join(p.stateDir, 'controller-manager-certs')}`,
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${net.clusterCidr}`,
      '--node-cidr-mask-size=24',
      // kube-controller-manager uses this range only to keep node-ipam from handing out pod CIDRs that overlap
      // it. The real Service range (10.96.0.0/16) is outside the cluster CIDR anyway, so point it at
      // 10.244.0.0/24 instead: the bridge's own subnet (gateway 10.244.0.1) is never a node's pod CIDR, and
      // node N (registered N-th) gets 10.244.N.0/24.
      `--service-cluster-ip-range=${net.reservedPodSubnet}`,
      `--service-account-private-key-file=${p.pki.serviceAccount.keyFile}`,
      `--root-ca-file=${p.pki.ca.certFile}`,
      `--cluster-signing-cert-file=${p.pki.ca.certFile}`,
      `--cluster-signing-key-file=${p.pki.ca.keyFile}`,
      '--use-service-account-credentials=true',
      // '*' = every on-by-default controller: garbage collector, namespace, deployment, replicaset,
      // endpointslice, serviceaccount(-token), node-lifecycle, node-ipam, ...
      '--controllers=*',
      '--leader-elect=false',
      '--profiling=false',
      '--v=1',
    ],
  };
}

export function schedulerCommand(p: ComponentPaths): Command {
  const kc = p.kubeconfigs.scheduler;
  return {
    name: 'kube-scheduler',
    cmd: join(p.binDir, 'kube-scheduler'),
    args: [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      '--leader-elect=false',
      '--profiling=false',
      '--v=1',
    ],
  };
}

export function kubeProxyCommand(p: ComponentPaths, opts: { hostname: string; masqueradeAll: boolean }): Command {
  return {
    name: 'kube-proxy',
    cmd: join(p.binDir, 'kube-proxy'),
    args: [
      `--kubeconfig=${p.kubeconfigs.kubeProxy}`,
      '--proxy-mode=iptables',
      `--cluster-cidr=${net.clusterCidr}`,
      '--detect-local-mode=ClusterCIDR',
      `--hostname-override=${opts.hostname}`,
      `--healthz-bind-address=127.0.0.1:${ports.kubeProxyHealthz}`,
      `--metrics-bind-address=127.0.0.1:${ports.kubeProxyMetrics}`,
      // Leave the machine's conntrack table and timeouts alone (no sysctl writes that fail in a sandbox).
      '--conntrack-max-per-core=0',
      '--conntrack-min=0',
      '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0',
      // NodePorts only on the node's own address (10.244.0.1N on the pod bridge), never on the machine's interfaces.
      '--nodeport-addresses=primary',
      '--iptables-sync-period=10s',
      '--iptables-min-sync-period=0s',
      ...(opts.masqueradeAll ? ['--masquerade-all'] : []),
      '--v=1',
    ],
  };
}
