// The shared-mode bench's two "pods": network namespaces the bench creates itself (unique `zb<hex>` names), each
// with eth0 on a private /24 (10.250.<n>.0, outside any cluster range) through a bridge that lives in a third
// netns, so the host's iptables never see this traffic. Removed by destroy(), which also runs on exit and signals.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface BenchPod {
  name: string;
  path: string;
  ip: string;
}

export interface BenchPods {
  client: BenchPod;
  server: BenchPod;
  destroy(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export function createPods(): BenchPods {
  const prefix = `zb${randomBytes(3).toString('hex')}`;
  const subnet = `10.250.${randomBytes(1)[0]!}`;
  const br = `${prefix}-br`;
  const pod = (x: string, host: number): BenchPod => ({ name: `${prefix}-${x}`, path: `/var/run/netns/${prefix}-${x}`, ip: `${subnet}.${host}` });
  const pods = { client: pod('c', 2), server: pod('s', 3) };
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    process.off('exit', destroy);
    for (const ns of [pods.client.name, pods.server.name, br]) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // not created
      }
    }
    // veth ends go with their namespaces; a half-built one could be left in the host's.
    for (const x of ['c', 's']) {
      try {
        ip('link', 'delete', `${prefix}${x}0`);
      } catch {
        // not there
      }
    }
  };
  process.on('exit', destroy);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.once(sig, () => {
      destroy();
      process.exit(130);
    });
  try {
    ip('netns', 'add', br);
    ip('-n', br, 'link', 'add', prefix, 'type', 'bridge');
    ip('-n', br, 'link', 'set', prefix, 'up');
    for (const [x, p] of [['c', pods.client], ['s', pods.server]] as const) {
      ip('netns', 'add', p.name);
      ip('link', 'add', `${prefix}${x}0`, 'type', 'veth', 'peer', 'name', `${prefix}${x}1`);
      ip('link', 'set', `${prefix}${x}0`, 'netns', p.name);
      ip('link', 'set', `${prefix}${x}1`, 'netns', br);
      ip('-n', br, 'link', 'set', `${prefix}${x}1`, 'master', prefix, 'up');
      ip('-n', p.name, 'link', 'set', `${prefix}${x}0`, 'name', 'eth0');
      ip('-n', p.name, 'link', 'set', 'lo', 'up');
      ip('-n', p.name, 'link', 'set', 'eth0', 'up');
      ip('-n', p.name, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0');
    }
  } catch (e) {
    destroy();
    throw new Error(`creating the bench's pod netns failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`);
  }
  return { ...pods, destroy };
}
