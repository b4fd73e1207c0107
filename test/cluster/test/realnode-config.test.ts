// The real node's configuration files: the settings these machines need are there, and the pod network hands
// out the node's podCIDR with the whole cluster on-link.
import test from 'ava';
import { parse } from 'yaml';
import { renderCniConflist, renderContainerdConfig, renderKubeletConfig } from '../src/realnode/config.js';

test('containerd: sandbox image, restricted oom_score_adj, cgroupfs runc, the standard CNI folders', (t) => {
  const toml = renderContainerdConfig({ sandboxImage: 'localhost/ambit/pause:v1.36.3', runcBinary: '/usr/sbin/runc' });
  t.regex(toml, /^version = 3$/m);
  t.regex(toml, /sandbox = "localhost\/ambit\/pause:v1\.36\.3"/);
  t.regex(toml, /restrict_oom_score_adj = true/);
  t.regex(toml, /SystemdCgroup = false/);
  t.regex(toml, /BinaryName = "\/usr\/sbin\/runc"/);
  t.regex(toml, /bin_dirs = \["\/opt\/cni\/bin"\]/);
  t.regex(toml, /conf_dir = "\/etc\/cni\/net\.d"/);
  t.regex(toml, /\[plugins\.'io\.containerd\.nri\.v1\.nri'\]\n\s+disable = true/);
});

test('kubelet: cgroup v1 allowed, no negative oom score, its own address and cgroup root', (t) => {
  const cfg = parse(
    renderKubeletConfig({
      address: '10.244.0.11',
      cgroupRoot: '/ambit-node-1',
      clusterDNS: '10.96.0.10',
      clusterDomain: 'cluster.local',
      resolvConf: '/x/resolv.conf',
      clientCAFile: '/pki/ca.crt',
      tlsCertFile: '/pki/k.crt',
      tlsPrivateKeyFile: '/pki/k.key',
    }),
  ) as Record<string, unknown>;
  t.is(cfg.kind, 'KubeletConfiguration');
  t.is(cfg.failCgroupV1, false);
  t.is(cfg.oomScoreAdj, 0);
  t.is(cfg.cgroupDriver, 'cgroupfs');
  t.is(cfg.cgroupRoot, '/ambit-node-1');
  t.is(cfg.address, '10.244.0.11');
  t.is(cfg.healthzBindAddress, '10.244.0.11');
  t.is(cfg.readOnlyPort, 0);
  t.deepEqual(cfg.clusterDNS, ['10.96.0.10']);
  t.false(cfg.makeIPTablesUtilChains as boolean);
});

test('CNI: addresses from the node podCIDR, the cluster CIDR on-link, default route to the bridge, no ip_forward flip', (t) => {
  const conf = JSON.parse(renderCniConflist({ bridge: 'ambit0', clusterCidr: '10.244.0.0/16', podCidr: '10.244.2.0/24', gateway: '10.244.0.1' })) as {
    plugins: Array<{ type: string; isGateway?: boolean; ipMasq?: boolean; ipam?: { ranges: Array<Array<Record<string, string>>>; routes: unknown[] } }>;
  };
  const bridge = conf.plugins[0]!;
  t.is(bridge.type, 'bridge');
  t.false(bridge.isGateway);
  t.false(bridge.ipMasq);
  t.deepEqual(bridge.ipam!.ranges[0]![0], { subnet: '10.244.0.0/16', rangeStart: '10.244.2.2', rangeEnd: '10.244.2.254', gateway: '10.244.0.1' });
  t.deepEqual(bridge.ipam!.routes, [{ dst: '0.0.0.0/0', gw: '10.244.0.1' }]);
  t.is(conf.plugins[1]!.type, 'portmap');
  t.throws(() => renderCniConflist({ bridge: 'b', clusterCidr: '10.0.0.0/8', podCidr: '10.1.0.0/16', gateway: '10.0.0.1' }), { message: /expects a \/24/ });
});
