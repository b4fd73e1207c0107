// Two network namespaces "pods" A and B on a bridge, built without Kubernetes for the in-pod tests.
// Layout: netns `<p>-br` holds bridge `<p>`; `<p>-a` / `<p>-b` each have `eth0` (veth to the bridge) and lo.
// Addresses 10.248.<n>.2 (A) / .3 (B) /24: outside the local cluster's 10.244/16. The bridge lives in its own
// netns so the host's iptables/br_netfilter never see this traffic. Everything is named with a random `ambt<hex>`
// prefix and removed by `destroy()`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TestPod {
  name: string;
  path: string;
  ip: string;
}

export interface TwoPods {
  prefix: string;
  a: TestPod;
  b: TestPod;
  destroy(): Promise<void>;
  /** netns and host links still carrying our prefix (empty after destroy). */
  leftovers(): Promise<string[]>;
}

export async function sh(cmd: string, args: string[]): Promise<string> {
  return (await exec(cmd, args)).stdout;
}

export async function createTwoPods(): Promise<TwoPods> {
  const prefix = `ambt${randomBytes(3).toString('hex')}`;
  const subnet = `10.248.${randomBytes(1)[0]!}`;
  const br = `${prefix}-br`;
  const pods: Record<'a' | 'b', TestPod> = {
    a: { name: `${prefix}-a`, path: `/var/run/netns/${prefix}-a`, ip: `${subnet}.2` },
    b: { name: `${prefix}-b`, path: `/var/run/netns/${prefix}-b`, ip: `${subnet}.3` },
  };
  const destroy = async () => {
    for (const ns of [pods.a.name, pods.b.name, br]) await exec('ip', ['netns', 'delete', ns]).catch(() => undefined);
    // veth ends are deleted with their namespaces; a half-built one could be left in the host.
    for (const x of ['a', 'b']) await exec('ip', ['link', 'delete', `${prefix}${x}0`]).catch(() => undefined);
  };
  try {
    await sh('ip', ['netns', 'add', br]);
    await sh('ip', ['-n', br, 'link', 'add', prefix, 'type', 'bridge']);
    await sh('ip', ['-n', br, 'link', 'set', prefix, 'up']);
    for (const x of ['a', 'b'] as const) {
      const pod = pods[x];
      await sh('ip', ['netns', 'add', pod.name]);
      await sh('ip', ['link', 'add', `${prefix}${x}0`, 'type', 'veth', 'peer', 'name', `${prefix}${x}1`]);
      await sh('ip', ['link', 'set', `${prefix}${x}0`, 'netns', pod.name]);
      await sh('ip', ['link', 'set', `${prefix}${x}1`, 'netns', br]);
      await sh('ip', ['-n', br, 'link', 'set', `${prefix}${x}1`, 'master', prefix, 'up']);
      await sh('ip', ['-n', pod.name, 'link', 'set', `${prefix}${x}0`, 'name', 'eth0']);
      await sh('ip', ['-n', pod.name, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', pod.name, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', pod.name, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0']);
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return {
    prefix,
    ...pods,
    destroy,
    async leftovers() {
      const ns = (await sh('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith(prefix));
      const links = (await sh('ip', ['-o', 'link', 'show'])).split('\n').filter((l) => l.includes(prefix));
      return [...ns, ...links];
    },
  };
}

/** curl from inside a pod's netns; resolves with body or `curl exit <n>`. */
export async function curlFrom(pod: TestPod, url: string): Promise<string> {
  try {
    return (await exec('ip', ['netns', 'exec', pod.name, 'curl', '-sS', '--max-time', '5', url])).stdout;
  } catch (e) {
    return `curl exit ${(e as { code?: number }).code}`;
  }
}
