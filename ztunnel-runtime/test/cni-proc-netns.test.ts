// Finding a running pod's netns from /proc: the cgroup-line parser (cgroupfs and systemd drivers, cgroup v1 and v2)
// and the scan over a fake /proc tree (whose ns/net entries are plain files with their own inodes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { findPodNetns, podUidsFromCgroup } from '../src/cni/index.js';

const UID = '1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab';
const CID = 'a3f9c1d2e4b5a6978877665544332211a3f9c1d2e4b5a6978877665544332211';

const V1_CGROUPFS = [
  '12:pids:/kubepods/besteffort/pod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/' + CID,
  '11:memory:/kubepods/besteffort/pod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/' + CID,
  '4:cpu,cpuacct:/kubepods/besteffort/pod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/' + CID,
  '1:name=systemd:/kubepods/besteffort/pod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/' + CID,
  '0::/',
].join('\n');
const V1_CGROUPFS_NODE_ROOT = '3:cpuset:/ambit-node1/kubepods/pod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/' + CID + '\n';
const V2_SYSTEMD = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_aaaa_4bbb_8ccc_0123456789ab.slice/cri-containerd-${CID}.scope\n`;
const V2_SYSTEMD_GUARANTEED = `0::/kubepods.slice/kubepods-pod1b2c3d4e_aaaa_4bbb_8ccc_0123456789ab.slice/cri-containerd-${CID}.scope\n`;
const V1_SYSTEMD_KIND = `5:memory:/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod1b2c3d4e_aaaa_4bbb_8ccc_0123456789ab.slice/cri-containerd-${CID}.scope\n`;
const V2_CGROUPFS = `0::/kubepods/burstable/pod${UID}/${CID}\n`;

test('cgroup lines of both drivers and both versions name the pod UID (dashed)', (t) => {
  for (const [name, content] of Object.entries({ V1_CGROUPFS, V1_CGROUPFS_NODE_ROOT, V2_SYSTEMD, V2_SYSTEMD_GUARANTEED, V1_SYSTEMD_KIND, V2_CGROUPFS })) {
    t.deepEqual(podUidsFromCgroup(content), [UID], name);
  }
});

test('cgroup lines without a pod, and garbage, name nothing', (t) => {
  t.deepEqual(podUidsFromCgroup('0::/init.scope\n12:pids:/system.slice/containerd.service\n'), []);
  t.deepEqual(podUidsFromCgroup('0::/kubepods/besteffort\n0::/kubepods.slice/kubepods-besteffort.slice\n'), [], 'QoS level, no pod');
  t.deepEqual(podUidsFromCgroup('garbage\n\n:::\n0::/kubepods/podnot-a-uid/x\n'), []);
  t.deepEqual(podUidsFromCgroup('0::/user.slice/mypod1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab/x\n'), [], '"pod" must start a path element');
});

function fakeProc(t: { teardown(fn: () => void): void }, procs: Record<number, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ambit-proc-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const [pid, cgroup] of Object.entries(procs)) {
    fs.mkdirSync(path.join(root, pid, 'ns'), { recursive: true });
    fs.writeFileSync(path.join(root, pid, 'cgroup'), cgroup);
    fs.writeFileSync(path.join(root, pid, 'ns', 'net'), '');
  }
  fs.mkdirSync(path.join(root, 'self'));
  return root;
}

test('scan: the lowest pid of the pod whose netns is not the host’s', (t) => {
  const root = fakeProc(t, { 1: '0::/init.scope\n', 40: '0::/system.slice/containerd.service\n', 120: V2_SYSTEMD, 130: V2_SYSTEMD, 200: `0::/kubepods/pod11111111-2222-4333-8444-555555555555/x\n` });
  t.is(findPodNetns(UID, { procRoot: root, hostNetnsInode: 1 }), path.join(root, '120', 'ns', 'net'));
  t.is(findPodNetns(UID.toUpperCase(), { procRoot: root, hostNetnsInode: 1 }), path.join(root, '120', 'ns', 'net'));
  t.is(findPodNetns('99999999-2222-4333-8444-555555555555', { procRoot: root, hostNetnsInode: 1 }), undefined);
});

test('scan: a pod process in the host netns (hostNetwork) is refused', (t) => {
  const root = fakeProc(t, { 120: V1_CGROUPFS, 130: V1_CGROUPFS });
  const hostIno = fs.statSync(path.join(root, '120', 'ns', 'net')).ino;
  t.is(findPodNetns(UID, { procRoot: root, hostNetnsInode: hostIno }), path.join(root, '130', 'ns', 'net'), 'skips the one in the host netns');
  fs.rmSync(path.join(root, '130'), { recursive: true });
  t.is(findPodNetns(UID, { procRoot: root, hostNetnsInode: hostIno }), undefined);
  t.is(findPodNetns(UID, { procRoot: path.join(root, 'missing') }), undefined);
});
