// Host networking of the local cluster: the pod bridge, forwarding, br_netfilter and the safety chain that keeps
// pod traffic on this machine.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { run, runOk } from './exec.js';
import { net, ports } from './paths.js';

export const FORWARD_CHAIN = 'AMBIT-FORWARD';
export const INPUT_CHAIN = 'AMBIT-INPUT';
const ipt = (args: string[]) => run('iptables', ['-w', '5', ...args]);

export interface HostNetworkState {
  /** Previous value of net.ipv4.ip_forward, restored at teardown. */
  ipForwardBefore?: string;
  brNetfilter: boolean;
}

async function linkExists(name: string): Promise<boolean> {
  return (await run('ip', ['link', 'show', 'dev', name])).code === 0;
}

async function sysctlWrite(key: string, value: string): Promise<boolean> {
  try {
    await writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, value);
    return true;
  } catch {
    return false;
  }
}

async function sysctlRead(key: string): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export async function setupHostNetwork(log: (l: string) => void): Promise<HostNetworkState> {
  if (!(await linkExists(net.bridge))) {
    await runOk('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  }
  const addrs = await runOk('ip', ['-o', '-4', 'addr', 'show', 'dev', net.bridge]);
  if (!addrs.includes(` ${net.bridgeCidr} `)) {
    await runOk('ip', ['addr', 'add', net.bridgeCidr, 'dev', net.bridge]);
  }
  await runOk('ip', ['link', 'set', net.bridge, 'up']);
  // LoadBalancer addresses: routed to the bridge, where kube-proxy's DNAT (nat OUTPUT for this machine's own
  // connections, PREROUTING for pods') turns them into a pod's address.
  await runOk('ip', ['route', 'replace', net.loadBalancerCidr, 'dev', net.bridge]);

  const ipForwardBefore = await sysctlRead('net.ipv4.ip_forward');
  if (!(await sysctlWrite('net.ipv4.ip_forward', '1'))) throw new Error('cannot enable net.ipv4.ip_forward');

  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    await run('modprobe', ['br_netfilter']);
  }
  let brNetfilter = false;
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    brNetfilter = await sysctlWrite('net.bridge.bridge-nf-call-iptables', '1');
  }
  if (!brNetfilter) {
    log('br_netfilter is not available: bridged pod replies bypass iptables, kube-proxy runs with --masquerade-all');
  }

  await installForwardGuard();
  await installInputGuard();
  return { ipForwardBefore, brNetfilter };
}

/** The AMBIT-FORWARD chain: pod<->pod accepted, anything else from or to the pod range rejected. */
export async function installForwardGuard(): Promise<void> {
  if ((await ipt(['-n', '-L', FORWARD_CHAIN])).code !== 0) {
    const r = await ipt(['-N', FORWARD_CHAIN]);
    if (r.code !== 0 && !r.stderr.includes('exists')) throw new Error(`iptables -N ${FORWARD_CHAIN}: ${r.stderr}`);
  }
  await runOk('iptables', ['-w', '5', '-F', FORWARD_CHAIN]);
  const rules: string[][] = [
    ['-s', net.clusterCidr, '-d', net.clusterCidr, '-j', 'ACCEPT'],
    ['-s', net.clusterCidr, '-j', 'REJECT'],
    ['-d', net.clusterCidr, '-j', 'REJECT'],
  ];
  for (const rule of rules) {
    await runOk('iptables', ['-w', '5', '-A', FORWARD_CHAIN, '-m', 'comment', '--comment', 'ambit: pod traffic stays on this machine', ...rule]);
  }
  await ensureForwardGuardFirst();
}

/**
 * The AMBIT-INPUT chain: kube-apiserver listens on 0.0.0.0:6443 so pods reach it at 10.244.0.1; only loopback
 * and the pod range may connect, nothing from the machine's other interfaces.
 */
export async function installInputGuard(): Promise<void> {
  if ((await ipt(['-n', '-L', INPUT_CHAIN])).code !== 0) {
    const r = await ipt(['-N', INPUT_CHAIN]);
    if (r.code !== 0 && !r.stderr.includes('exists')) throw new Error(`iptables -N ${INPUT_CHAIN}: ${r.stderr}`);
  }
  await runOk('iptables', ['-w', '5', '-F', INPUT_CHAIN]);
  await runOk('iptables', [
    '-w', '5', '-A', INPUT_CHAIN, '-p', 'tcp', '--dport', String(ports.apiserver), '!', '-i', 'lo', '!', '-s', net.clusterCidr,
    '-m', 'comment', '--comment', 'ambit: apiserver only for this machine and its pods', '-j', 'REJECT', '--reject-with', 'tcp-reset',
  ]);
  if ((await ipt(['-C', 'INPUT', '-j', INPUT_CHAIN])).code !== 0) {
    await runOk('iptables', ['-w', '5', '-I', 'INPUT', '1', '-j', INPUT_CHAIN]);
  }
}

/**
 * Make the FORWARD jump to AMBIT-FORWARD the first rule (kube-proxy prepends its own jumps when it starts
 * syncing). Returns whether kube-proxy's jumps were already there (after that it leaves the order alone).
 */
export async function ensureForwardGuardFirst(): Promise<boolean> {
  const rules = (await runOk('iptables', ['-w', '5', '-S', 'FORWARD'])).split('\n').filter((l) => l.startsWith('-A FORWARD'));
  const kubeProxyHooked = rules.some((l) => l.includes('-j KUBE-FORWARD'));
  if (rules[0]?.includes(`-j ${FORWARD_CHAIN}`) && rules.filter((l) => l.includes(`-j ${FORWARD_CHAIN}`)).length === 1) {
    return kubeProxyHooked;
  }
  while ((await ipt(['-D', 'FORWARD', '-j', FORWARD_CHAIN])).code === 0) {
    /* remove every copy */
  }
  await runOk('iptables', ['-w', '5', '-I', 'FORWARD', '1', '-j', FORWARD_CHAIN]);
  return kubeProxyHooked;
}

export async function teardownHostNetwork(state: HostNetworkState | undefined): Promise<string[]> {
  const removed: string[] = [];
  removed.push(...(await removeChains('iptables', /^AMBIT-/)));
  if ((await run('ip', ['route', 'del', net.loadBalancerCidr, 'dev', net.bridge])).code === 0) removed.push(`route ${net.loadBalancerCidr}`);
  if (await linkExists(net.bridge)) {
    await run('ip', ['link', 'del', net.bridge]);
    removed.push(`bridge ${net.bridge}`);
  }
  if (state?.ipForwardBefore !== undefined) await sysctlWrite('net.ipv4.ip_forward', state.ipForwardBefore);
  return removed;
}

/**
 * Remove every chain whose name matches `pattern` from every table of `tool` (iptables or ip6tables): first the
 * rules that jump to them from other chains, then the chains themselves.
 */
export async function removeChains(tool: 'iptables' | 'ip6tables', pattern: RegExp): Promise<string[]> {
  const removed: string[] = [];
  for (const table of ['filter', 'nat', 'mangle', 'raw']) {
    const listed = await run(tool, ['-w', '5', '-t', table, '-S']);
    if (listed.code !== 0) continue;
    const lines = listed.stdout.split('\n');
    const chains = lines
      .filter((l) => l.startsWith('-N '))
      .map((l) => l.slice(3).trim())
      .filter((c) => pattern.test(c));
    if (chains.length === 0) continue;
    // Rules in chains we keep that jump into the ones we remove.
    for (const line of lines) {
      const m = /^-A (\S+) (.*)$/.exec(line);
      if (!m || pattern.test(m[1]!)) continue;
      const target = /(?:-j|-g) (\S+)/.exec(m[2]!)?.[1];
      if (target && pattern.test(target)) {
        await run('sh', ['-c', `${tool} -w 5 -t ${table} ${line.replace(/^-A /, '-D ')}`]);
      }
    }
    for (const c of chains) await run(tool, ['-w', '5', '-t', table, '-F', c]);
    for (const c of chains) {
      if ((await run(tool, ['-w', '5', '-t', table, '-X', c])).code === 0) removed.push(`${tool} ${table} chain ${c}`);
    }
  }
  return removed;
}

/** Every chain named like `pattern` in any table of iptables and ip6tables. */
export async function listChains(pattern: RegExp): Promise<string[]> {
  const found: string[] = [];
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle', 'raw']) {
      const r = await run(tool, ['-w', '5', '-t', table, '-S']);
      for (const l of r.stdout.split('\n')) {
        if (l.startsWith('-N ') && pattern.test(l.slice(3).trim())) found.push(`${tool} ${table} ${l.slice(3).trim()}`);
      }
    }
  }
  return found;
}

export async function listNetns(prefix = 'ambit-'): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!.trim())
    .filter((n) => n.startsWith(prefix));
}

export async function bridgeExists(): Promise<boolean> {
  return linkExists(net.bridge);
}
