// A real node of the local cluster: containerd and the kubelet (built from the cluster's own Kubernetes module),
// runc and the reference CNI plugins, in a mount namespace of its own (mountns.ts) where it sees the standard node
// paths (layout.ts). The pod network is the cluster's one bridge; the node hands out addresses from the podCIDR
// kube-controller-manager gives it, so its CNI config is written once the Node object has one.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitFor } from '../controlplane/exec.js';
import { ManagedProcess } from '../controlplane/process.js';
import { renderContainerdConfig, renderCniConflist, renderKubeletConfig } from './config.js';
import { createCgroupRoot } from './cgroups.js';
import { importImage, type ImageArchive } from './images.js';
import { NODE_PATHS, backing, type NodeLayout } from './layout.js';
import { createMountNamespace, inMountNamespace } from './mountns.js';

export interface RealNodeOptions {
  layout: NodeLayout;
  /** kubelet (built with the control plane). */
  k8sBinDir: string;
  /** containerd, its runc shim, ctr, the CNI plugins, pause. */
  nodeBinDir: string;
  runc: string;
  sandboxImage: string;
  kubeconfig: string;
  caFile: string;
  tls: { certFile: string; keyFile: string };
  net: { bridge: string; clusterCidr: string; gateway: string; dnsServiceIP: string; clusterDomain: string };
  log: (line: string) => void;
  onUnexpectedExit: (p: ManagedProcess) => void;
}

export const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];

export class RealNode {
  readonly procs: ManagedProcess[] = [];
  constructor(readonly opts: RealNodeOptions) {}

  get layout(): NodeLayout {
    return this.opts.layout;
  }

  /** Folders, configs, cgroups and the mount namespace; nothing runs yet. */
  async prepare(): Promise<void> {
    const { layout: l, opts } = { layout: this.layout, opts: this.opts };
    for (const p of NODE_PATHS) {
      await mkdir(p, { recursive: true });
      await mkdir(backing(l, p), { recursive: true });
    }
    for (const plugin of CNI_PLUGINS) await copyFile(join(opts.nodeBinDir, plugin), join(backing(l, '/opt/cni/bin'), plugin));
    await writeFile(l.containerdConfig, renderContainerdConfig({ sandboxImage: opts.sandboxImage, runcBinary: opts.runc }));
    await writeFile(
      l.kubeletConfig,
      renderKubeletConfig({
        address: l.address,
        cgroupRoot: l.cgroupRoot,
        clusterDNS: opts.net.dnsServiceIP,
        clusterDomain: opts.net.clusterDomain,
        resolvConf: l.resolvConf,
        clientCAFile: opts.caFile,
        tlsCertFile: opts.tls.certFile,
        tlsPrivateKeyFile: opts.tls.keyFile,
      }),
    );
    // Pods with dnsPolicy Default (CoreDNS itself) get this: no upstream resolver, pod traffic stays here.
    await writeFile(l.resolvConf, `search ${opts.net.clusterDomain}\nnameserver ${opts.net.dnsServiceIP}\n`);
    await createCgroupRoot(l.cgroupRoot);
    await createMountNamespace(
      l.mountNs,
      NODE_PATHS.map((p) => [backing(l, p), p]),
    );
  }

  private spawn(component: string, cmd: string, args: string[]): ManagedProcess {
    const l = this.layout;
    const inNs = inMountNamespace(l.mountNs, cmd, args);
    const p = new ManagedProcess(
      {
        name: `${l.name} ${component}`,
        cmd: inNs.cmd,
        args: inNs.args,
        logFile: l.logFile(component),
        // containerd finds its runc shim on PATH.
        env: { ...process.env, PATH: `${this.opts.nodeBinDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` },
      },
      this.opts.onUnexpectedExit,
    );
    this.procs.push(p);
    return p;
  }

  /**
   * containerd, ready when `ctr version` answers. If it exits while starting, its exit and log tail go to the
   * cluster log and it is started once more; a second exit fails with both in the error (the node's log file
   * does not outlive the next cluster on this state dir).
   */
  async startContainerd(): Promise<void> {
    const name = this.layout.name;
    for (let attempt = 1; ; attempt++) {
      const p = this.spawn('containerd', join(this.opts.nodeBinDir, 'containerd'), ['--config', this.layout.containerdConfig]);
      try {
        await waitFor(
          `containerd of ${name}`,
          async () => {
            if (!p.running) throw Object.assign(new Error('exited'), { fatal: true });
            const { cmd, args } = inMountNamespace(this.layout.mountNs, join(this.opts.nodeBinDir, 'ctr'), ['-a', '/run/containerd/containerd.sock', 'version']);
            return (await run(cmd, args, { timeoutMs: 5000 })).code === 0;
          },
          30_000,
          100,
        );
        return;
      } catch (e) {
        if (p.running) throw e;
        const why = `containerd of ${name} exited while starting (code ${p.exitInfo?.code}, signal ${p.exitInfo?.signal}); log ${p.logFile}:\n${await p.logTail(15)}`;
        if (attempt >= 2) throw new Error(why);
        this.opts.log(`${why}\nstarting it again`);
        this.procs.splice(this.procs.indexOf(p), 1);
      }
    }
  }

  async loadImages(images: ImageArchive[]): Promise<void> {
    for (const image of images) await importImage(this.layout.mountNs, join(this.opts.nodeBinDir, 'ctr'), image);
  }

  startKubelet(): ManagedProcess {
    const l = this.layout;
    return this.spawn('kubelet', join(this.opts.k8sBinDir, 'kubelet'), [
      `--config=${l.kubeletConfig}`,
      `--kubeconfig=${this.opts.kubeconfig}`,
      `--hostname-override=${l.name}`,
      `--node-ip=${l.address}`,
      '--v=1',
    ]);
  }

  /** The pod network config, once the Node has its podCIDR: the kubelet reports Ready after it appears. */
  async writeCniConfig(podCidr: string): Promise<void> {
    const file = join(backing(this.layout, '/etc/cni/net.d'), '10-ambit.conflist');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, renderCniConflist({ bridge: this.opts.net.bridge, clusterCidr: this.opts.net.clusterCidr, gateway: this.opts.net.gateway, podCidr }));
    await run('mv', ['-f', tmp, file]);
  }
}
