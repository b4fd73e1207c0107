// Starts the local cluster's real nodes: the node programs and images are built (cached), then each node in
// parallel: folders, configs and mount namespace; containerd; the images; the kubelet; once its Node has a
// podCIDR, the pod network config; then Ready.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitFor, type RunResult } from '../controlplane/exec.js';
import { writeKubeconfig } from '../controlplane/kubeconfig.js';
import { net } from '../controlplane/paths.js';
import type { ManagedProcess } from '../controlplane/process.js';
import type { ClusterPKI } from '../pki.js';
import { buildNodeBinaries } from './build.js';
import { localImages } from './image-set.js';
import { nodeLayout } from './layout.js';
import { RealNode } from './node.js';
import { recordHost } from './teardown.js';
import { readFile } from 'node:fs/promises';

/** Node N's InternalIP: a secondary address of the pod bridge (10.244.0.11, .12...). */
export const realNodeAddress = (n: number) => `10.244.0.${10 + n}`;

/** Debian's runc (scripts/ensure-tools.sh installs it). */
export const RUNC = '/usr/sbin/runc';

export interface StartRealNodesOptions {
  stateDir: string;
  nodes: Array<{ name: string; address: string }>;
  k8sBinDir: string;
  pki: ClusterPKI & { caPem: string };
  apiserver: string;
  kubectl: (args: string[], opts?: { timeoutMs?: number }) => Promise<RunResult>;
  log: (line: string) => void;
  onUnexpectedExit: (p: ManagedProcess) => void;
}

export async function startRealNodes(o: StartRealNodesOptions): Promise<{ names: string[]; procs: ManagedProcess[] }> {
  const t0 = Date.now();
  const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
  const nodeBinDir = await buildNodeBinaries({ log: o.log });
  const images = await localImages({ nodeBinDir, k8sBinDir: o.k8sBinDir, log: o.log });
  await mkdir(join(o.stateDir, 'nodes'), { recursive: true });
  await recordHost(o.stateDir);
  const procs: ManagedProcess[] = [];
  await Promise.all(
    o.nodes.map(async (n, i) => {
      const layout = nodeLayout(o.stateDir, n.name, i + 1, n.address);
      await mkdir(layout.dir, { recursive: true });
      const addr = await run('ip', ['addr', 'add', `${n.address}/16`, 'dev', net.bridge]);
      if (addr.code !== 0 && !/exists/i.test(addr.stderr)) throw new Error(`adding ${n.address} to ${net.bridge}: ${addr.stderr.trim()}`);
      const tls = o.pki.kubelets[n.name]!;
      await writeKubeconfig(layout.kubeconfig, {
        server: o.apiserver,
        caPem: o.pki.caPem,
        certPem: await readFile(tls.certFile, 'utf8'),
        keyPem: await readFile(tls.keyFile, 'utf8'),
        user: `system:node:${n.name}`,
      });
      const node = new RealNode({
        layout,
        k8sBinDir: o.k8sBinDir,
        nodeBinDir,
        runc: RUNC,
        sandboxImage: images.sandboxImage,
        kubeconfig: layout.kubeconfig,
        caFile: o.pki.ca.certFile,
        tls,
        net: { bridge: net.bridge, clusterCidr: net.clusterCidr, gateway: net.gateway, dnsServiceIP: net.dnsServiceIP, clusterDomain: net.clusterDomain },
        log: o.log,
        onUnexpectedExit: o.onUnexpectedExit,
      });
      await node.prepare();
      await node.startContainerd();
      procs.push(...node.procs);
      await node.loadImages(images.archives);
      o.log(`node ${n.name}: containerd up, ${images.archives.length} images loaded (${secs()}s)`);
      const kubelet = node.startKubelet();
      procs.push(kubelet);
      let podCidr = '';
      await waitFor(
        `podCIDR of ${n.name}`,
        async () => {
          if (!kubelet.running) throw Object.assign(new Error(`kubelet of ${n.name} exited; see ${layout.logFile('kubelet')}`), { fatal: true });
          const r = await o.kubectl(['get', 'node', n.name, '-o', 'jsonpath={.spec.podCIDR}'], { timeoutMs: 5000 });
          podCidr = r.code === 0 ? r.stdout.trim() : '';
          return podCidr !== '';
        },
        60_000,
        200,
      );
      await node.writeCniConfig(podCidr);
      await waitFor(
        `${n.name} Ready`,
        async () => {
          if (!kubelet.running) throw Object.assign(new Error(`kubelet of ${n.name} exited; see ${layout.logFile('kubelet')}`), { fatal: true });
          const r = await o.kubectl(['get', 'node', n.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], { timeoutMs: 5000 });
          return r.stdout.trim() === 'True';
        },
        60_000,
        200,
      );
      o.log(`node ${n.name} ready: kubelet + containerd, podCIDR ${podCidr} (${secs()}s)`);
    }),
  );
  return { names: o.nodes.map((n) => n.name).sort(), procs };
}
