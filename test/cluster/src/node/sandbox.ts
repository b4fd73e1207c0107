// A pod sandbox: network namespace `ambit-<pod uid>`, a veth pair to the bridge, eth0 with the pod's IP, and the
// resolv.conf/hosts/hostname files that `ip netns exec` bind-mounts over /etc for every process it starts.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { run, tryRun } from './sh.js';

export interface SandboxNetwork {
  /** `ambit-`: the contract with CNI-like agents is /var/run/netns/ambit-<pod uid>. */
  netnsPrefix: string;
  bridge: string;
  gateway: string;
  prefix: number;
  clusterDNS: string;
  clusterDomain: string;
}

export interface Sandbox {
  netns: string;
  hostVeth: string;
  ip: string;
}

export function netnsName(uid: string, prefix = 'ambit-'): string {
  return `${prefix}${uid}`;
}

export function hostVethName(uid: string): string {
  return `av${createHash('sha1').update(uid).digest('hex').slice(0, 10)}`;
}

export function netnsEtcDir(netns: string): string {
  return join('/etc/netns', netns);
}

/** resolv.conf for the pod's dnsPolicy/dnsConfig; undefined = use the host's (dnsPolicy Default). */
export function resolvConf(pod: V1Pod, net: Pick<SandboxNetwork, 'clusterDNS' | 'clusterDomain'>): string | undefined {
  const ns = pod.metadata?.namespace ?? 'default';
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  let nameservers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') {
    nameservers = [net.clusterDNS];
    searches = [`${ns}.svc.${net.clusterDomain}`, `svc.${net.clusterDomain}`, net.clusterDomain];
    options = ['ndots:5'];
  } else if (policy === 'Default') {
    if (!pod.spec?.dnsConfig) return undefined;
  }
  const cfg = pod.spec?.dnsConfig;
  if (cfg) {
    for (const s of cfg.nameservers ?? []) if (!nameservers.includes(s)) nameservers.push(s);
    for (const s of cfg.searches ?? []) if (!searches.includes(s)) searches.push(s);
    for (const o of cfg.options ?? []) {
      const opt = o.value !== undefined ? `${o.name}:${o.value}` : o.name!;
      options = options.filter((x) => x.split(':')[0] !== o.name);
      options.push(opt);
    }
  }
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const s of nameservers) lines.push(`nameserver ${s}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export function podHostname(pod: V1Pod): string {
  return (pod.spec?.hostname ?? pod.metadata?.name ?? 'pod').slice(0, 63);
}

export function hostsFile(pod: V1Pod, ip: string, clusterDomain: string): string {
  const lines = ['# Kubernetes-managed hosts file (Ambit virtual node).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  const name = podHostname(pod);
  const sub = pod.spec?.subdomain;
  lines.push(sub ? `${ip}\t${name}.${sub}.${pod.metadata?.namespace}.svc.${clusterDomain}\t${name}` : `${ip}\t${name}`);
  for (const h of pod.spec?.hostAliases ?? []) lines.push(`${h.ip}\t${(h.hostnames ?? []).join('\t')}`);
  return `${lines.join('\n')}\n`;
}

export async function createSandbox(pod: V1Pod, ip: string, net: SandboxNetwork): Promise<Sandbox> {
  const uid = pod.metadata!.uid!;
  const netns = netnsName(uid, net.netnsPrefix);
  const hostVeth = hostVethName(uid);
  const sandbox = { netns, hostVeth, ip };
  try {
    const etc = netnsEtcDir(netns);
    await mkdir(etc, { recursive: true });
    const resolv = resolvConf(pod, net);
    if (resolv) await writeFile(join(etc, 'resolv.conf'), resolv);
    await writeFile(join(etc, 'hosts'), hostsFile(pod, ip, net.clusterDomain));
    await writeFile(join(etc, 'hostname'), `${podHostname(pod)}\n`);
    await run(['ip', 'netns', 'add', netns]);
    await run(['ip', 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await run(['ip', 'link', 'set', hostVeth, 'master', net.bridge, 'up']);
    await run(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
    await run(['ip', '-n', netns, 'addr', 'add', `${ip}/${net.prefix}`, 'dev', 'eth0']);
    await run(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
    await run(['ip', '-n', netns, 'route', 'add', 'default', 'via', net.gateway, 'dev', 'eth0']);
  } catch (err) {
    await destroySandbox(sandbox);
    throw err;
  }
  return sandbox;
}

/** Pids of every process in the namespace (including ones started by others, e.g. via nsenter). */
export async function netnsPids(netns: string): Promise<number[]> {
  if (!existsSync(join('/run/netns', netns))) return [];
  try {
    const out = await run(['ip', 'netns', 'pids', netns]);
    return out.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function destroySandbox(sandbox: { netns: string; hostVeth: string }): Promise<void> {
  for (const pid of await netnsPids(sandbox.netns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (existsSync(join('/run/netns', sandbox.netns))) await tryRun(['ip', 'netns', 'del', sandbox.netns]);
  await tryRun(['ip', 'link', 'del', sandbox.hostVeth]);
  await rm(netnsEtcDir(sandbox.netns), { recursive: true, force: true });
}
