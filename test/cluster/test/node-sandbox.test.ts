import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { enclosingMount, launcherScript, orderMounts } from '../src/node/launcher.js';
import { hostsFile, hostVethName, netnsName, resolvConf } from '../src/node/sandbox.js';
import type { Mount } from '../src/node/volumes.js';

const net = { clusterDNS: '10.96.0.10', clusterDomain: 'cluster.local' };
const pod = (spec: V1Pod['spec'] = { containers: [] }): V1Pod => ({ metadata: { name: 'web-1', namespace: 'shop', uid: 'u' }, spec });

test('names: netns ambit-<uid>, host veth short enough for the kernel', (t) => {
  t.is(netnsName('1234-abcd'), 'ambit-1234-abcd');
  const v = hostVethName('0c0ffee0-aaaa-bbbb-cccc-1234567890ab');
  t.regex(v, /^av[0-9a-f]{10}$/);
  t.true(v.length <= 15);
});

test('resolv.conf for ClusterFirst, dnsConfig merged, Default uses the host', (t) => {
  t.is(resolvConf(pod(), net), 'search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
  const custom = resolvConf(pod({ containers: [], dnsConfig: { searches: ['example.org'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }), net);
  t.is(custom, 'search shop.svc.cluster.local svc.cluster.local cluster.local example.org\nnameserver 10.96.0.10\noptions ndots:2 edns0\n');
  t.is(resolvConf(pod({ containers: [], dnsPolicy: 'Default' }), net), undefined);
  t.is(resolvConf(pod({ containers: [], dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'] } }), net), 'nameserver 1.2.3.4\n');
});

test('hosts file names the pod (and its subdomain FQDN)', (t) => {
  t.regex(hostsFile(pod(), '10.244.1.2', 'cluster.local'), /\n10\.244\.1\.2\tweb-1\n$/);
  const sub = hostsFile(pod({ containers: [], hostname: 'db-0', subdomain: 'db' }), '10.244.1.3', 'cluster.local');
  t.regex(sub, /10\.244\.1\.3\tdb-0\.db\.shop\.svc\.cluster\.local\tdb-0/);
});

test('launcher mounts parents first, read-only remounts, quotes paths, then execs the command', (t) => {
  const mounts: Mount[] = [
    { source: '/s/cfg', target: '/data/config', readOnly: true, recursive: false, kind: 'dir' },
    { source: "/s/it's", target: '/data', readOnly: false, recursive: false, kind: 'dir' },
    { source: '/run/netns', target: '/run/netns', readOnly: false, recursive: true, kind: 'dir' },
  ];
  t.deepEqual(orderMounts(mounts).map((m) => m.target), ['/data', '/data/config', '/run/netns']);
  t.is(enclosingMount(mounts, '/data/config/x')?.target, '/data/config');
  t.is(enclosingMount(mounts, '/database'), undefined);
  const script = launcherScript({ hostname: 'web-1', mounts, workingDir: '/data', defaultDir: '/unused' });
  t.is(
    script.split('\n').slice(3).join('\n'),
    [
      "hostname 'web-1' 2>/dev/null || true",
      "exec 10<'/s/it'\\''s'",
      "exec 11<'/s/cfg'",
      "exec 12<'/run/netns'",
      'mount --no-canonicalize --bind /proc/self/fd/10 \'/data\'',
      'mount --no-canonicalize --bind /proc/self/fd/11 \'/data/config\'',
      "mount -o remount,bind,ro '/data/config'",
      'mount --no-canonicalize --rbind /proc/self/fd/12 \'/run/netns\'',
      "cd '/data'",
      'exec 10<&- 11<&- 12<&-',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  // Without a workingDir, the per-container directory is opened before the mounts that could hide it.
  const noDir = launcherScript({ mounts: [mounts[1]!], defaultDir: '/state/c/cwd' });
  t.true(noDir.includes("exec 11<'/state/c/cwd'\nmount --no-canonicalize --bind /proc/self/fd/10 '/data'\ncd -P /proc/self/fd/11\nexec 10<&- 11<&-\n"));
});
