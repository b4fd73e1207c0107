// startCluster(): the local cluster from real parts (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kube-proxy, two real nodes (kubelet + containerd + runc + CNI plugins), CoreDNS), supervised by the
// calling process. connectCluster(): a handle on a running one, by its kubeconfig.
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClusterPKI, type ClusterPKI } from './pki.js';
import { buildControlPlane } from './controlplane/build.js';
import {
  cleanupStateDir,
  deleteNamedNetns,
  descendants,
  isAlive,
  killPids,
  listProcesses,
  netnsOnBridge,
  processesMentioning,
  removeClusterChains,
  removeStateDir,
  unmountUnder,
  type ProcInfo,
} from './controlplane/cleanup.js';
import {
  apiserverCommand,
  controllerManagerCommand,
  etcdCommand,
  kubeProxyCommand,
  schedulerCommand,
  type Command,
  type ComponentPaths,
} from './controlplane/components.js';
import { corednsManifest } from './controlplane/addons.js';
import { run, waitFor, type RunResult } from './controlplane/exec.js';
import { busyPorts, isOk } from './controlplane/health.js';
import { writeKubeconfig } from './controlplane/kubeconfig.js';
import {
  bridgeExists,
  ensureForwardGuardFirst,
  setupHostNetwork,
  teardownHostNetwork,
  type HostNetworkState,
} from './controlplane/network.js';
import { defaultStateDir, machineLockFile, net, nodeName, ports } from './controlplane/paths.js';
import { ManagedProcess } from './controlplane/process.js';
import { installUpstreamCRDs } from './crds/upstream.js';
import { LoadBalancerAllocator } from './loadbalancer/allocator.js';
import { startRealNodes, realNodeAddress } from './realnode/cluster-nodes.js';
import { teardownRealNodes } from './realnode/teardown.js';

export interface ClusterOptions {
  /** Real nodes (default 2: ambit-node-1, ambit-node-2). 0 = control plane only. */
  nodes?: number;
  /** Default <repo>/.ambit/cluster. Removed at stop(). */
  stateDir?: string;
  log?: (line: string) => void;
  /** Install the upstream CRDs (Gateway API, Istio) and crds/ambit (default true). */
  crds?: boolean;
  /** Deploy CoreDNS and wait for it when there are nodes (default true). */
  addons?: boolean;
}

export interface KubectlOptions {
  input?: string;
  timeoutMs?: number;
}

export interface Cluster {
  kubeconfigPath: string;
  stateDir: string;
  binDir: string;
  nodeNames: string[];
  kubectl(args: string[], opts?: KubectlOptions): Promise<RunResult>;
  /** Stops everything, removes the bridge, iptables chains, netns ambit-*, mounts and the state dir. */
  stop(): Promise<void>;
}

/** What a running cluster records in its state dir (cluster.json) and in the machine lock. */
export interface ClusterRecord {
  pid: number;
  stateDir: string;
  kubeconfigPath: string;
  binDir: string;
  nodeNames: string[];
}

function kubectlRunner(binDir: string, kubeconfigPath: string) {
  return (args: string[], opts: KubectlOptions = {}) =>
    run(join(binDir, 'kubectl'), args, {
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? 60_000,
      env: { ...process.env, KUBECONFIG: kubeconfigPath },
    });
}


export async function readMachineLock(): Promise<ClusterRecord | undefined> {
  try {
    return JSON.parse(await readFile(machineLockFile, 'utf8')) as ClusterRecord;
  } catch {
    return undefined;
  }
}

class LocalCluster implements Cluster {
  kubeconfigPath: string;
  binDir: string;
  nodeNames: string[] = [];
  readonly kubectl: (args: string[], opts?: KubectlOptions) => Promise<RunResult>;
  private readonly procs: ManagedProcess[] = [];
  private nodeProcs: ManagedProcess[] = [];
  private network: HostNetworkState | undefined;
  private loadBalancer: LoadBalancerAllocator | undefined;
  private guardTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private stopping = false;
  pki!: ClusterPKI;

  constructor(
    readonly stateDir: string,
    binDir: string,
    private readonly log: (l: string) => void,
  ) {
    this.binDir = binDir;
    this.kubeconfigPath = join(stateDir, 'kubeconfig');
    this.kubectl = kubectlRunner(binDir, this.kubeconfigPath);
  }

  private logFile(name: string): string {
    return join(this.stateDir, 'logs', `${name.replaceAll(' ', '-')}.log`);
  }

  private onUnexpectedExit = (p: ManagedProcess) => {
    const e = p.exitInfo;
    this.log(`${p.name} exited unexpectedly (code ${e?.code}, signal ${e?.signal}); log: ${this.logFile(p.name)}`);
  };

  /** The command of each control-plane process, to start it again when it dies. */
  private readonly commands = new Map<ManagedProcess, Command>();
  private restarts = 0;

  /**
   * A control-plane component that dies is started again after 1 s, as the kubelet restarts a static pod on a real
   * control-plane node; the fault suite kills kube-apiserver to check that the mesh rides out its restart. Bounded
   * (20 restarts per cluster) so a component that cannot start does not loop forever.
   */
  private restartOnExit = (p: ManagedProcess) => {
    this.onUnexpectedExit(p);
    const c = this.commands.get(p);
    if (!c || this.stopping || this.restarts >= 20) return;
    this.restarts++;
    setTimeout(() => {
      if (this.stopping) return;
      const i = this.procs.indexOf(p);
      const next = this.spawn(c);
      if (i >= 0) this.procs.splice(i, 1);
      this.commands.delete(p);
      this.log(`${c.name} started again (pid ${next.pid}, restart ${this.restarts} of at most 20)`);
    }, 1000).unref();
  };

  private spawn(c: Command): ManagedProcess {
    const p = new ManagedProcess({ name: c.name, cmd: c.cmd, args: c.args, logFile: this.logFile(c.name) }, this.restartOnExit);
    this.procs.push(p);
    this.commands.set(p, c);
    return p;
  }

  /** Wait for `check`, failing fast (with the log tail) if the process exits. */
  private async waitReady(p: ManagedProcess, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const started = Date.now();
    await waitFor(
      what,
      async () => {
        if (!p.running) {
          throw Object.assign(new Error(`${p.name} exited (code ${p.exitInfo?.code}):\n${await p.logTail()}`), {
            fatal: true,
          });
        }
        return check();
      },
      timeoutMs,
      150,
    ).catch(async (e: Error) => {
      if (!p.running) throw new Error(`${p.name} exited (code ${p.exitInfo?.code}):\n${await p.logTail()}`);
      throw new Error(`${e.message}\n${p.name} log tail:\n${await p.logTail()}`);
    });
    this.log(`${what} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  }

  async start(opts: ClusterOptions): Promise<void> {
    const t0 = Date.now();
    const nodeCount = opts.nodes ?? 2;
    const nodes = Array.from({ length: nodeCount }, (_, i) => ({ name: nodeName(i + 1), address: realNodeAddress(i + 1) }));

    await mkdir(join(this.stateDir, 'logs'), { recursive: true });
    // etcd needs nothing else: start it while the PKI and the host network are made.
    const etcd = this.spawn(etcdCommand({ stateDir: this.stateDir, binDir: this.binDir }));
    const etcdUp = this.waitReady(etcd, 'etcd healthy', () => isOk(`http://127.0.0.1:${ports.etcdClient}/health`), 30_000);
    const networkUp = setupHostNetwork(this.log);
    // Awaited below; the catches keep a failure of one from being reported as unhandled while awaiting another.
    etcdUp.catch(() => {});
    networkUp.catch(() => {});
    const pki = await createClusterPKI(join(this.stateDir, 'pki'), nodes);
    this.pki = pki;
    const kubeconfig = {
      server: `https://127.0.0.1:${ports.apiserver}`,
      caPem: pki.caPem,
      certPem: pki.adminCertPem,
      keyPem: pki.adminKeyPem,
    };
    await writeKubeconfig(this.kubeconfigPath, kubeconfig);
    const kcDir = join(this.stateDir, 'kubeconfigs');
    await mkdir(kcDir, { recursive: true, mode: 0o700 });
    const kubeconfigs = {
      controllerManager: join(kcDir, 'kube-controller-manager.conf'),
      scheduler: join(kcDir, 'kube-scheduler.conf'),
      kubeProxy: join(kcDir, 'kube-proxy.conf'),
    };
    for (const path of Object.values(kubeconfigs)) await writeKubeconfig(path, kubeconfig);
    const paths: ComponentPaths = { stateDir: this.stateDir, binDir: this.binDir, pki, kubeconfigs };

    this.network = await networkUp;
    this.log(`host network: bridge ${net.bridge} ${net.bridgeCidr}, br_netfilter ${this.network.brNetfilter ? 'on' : 'off'}`);

    await etcdUp;

    const apiserver = this.spawn(apiserverCommand(paths));
    const tls = { ca: pki.caPem, cert: pki.adminCertPem, key: pki.adminKeyPem };
    await this.waitReady(apiserver, 'kube-apiserver ready', () => isOk(`https://127.0.0.1:${ports.apiserver}/readyz`, tls), 90_000);

    this.loadBalancer = new LoadBalancerAllocator({
      api: { server: `https://127.0.0.1:${ports.apiserver}`, ...tls },
      cidr: net.loadBalancerCidr,
      log: this.log,
    });
    this.loadBalancer.start();
    this.log(`LoadBalancer addresses from ${net.loadBalancerCidr} (routed to ${net.bridge})`);

    const kcm = this.spawn(controllerManagerCommand(paths));
    const scheduler = this.spawn(schedulerCommand(paths));
    const insecure = { insecure: true };
    const controlPlane = Promise.all([
      this.waitReady(kcm, 'kube-controller-manager healthy', () => isOk(`https://127.0.0.1:${ports.controllerManager}/healthz`, insecure), 60_000),
      this.waitReady(scheduler, 'kube-scheduler healthy', () => isOk(`https://127.0.0.1:${ports.scheduler}/healthz`, insecure), 60_000),
    ]);
    const crds = opts.crds === false ? Promise.resolve() : installUpstreamCRDs(this.kubeconfigPath, { log: this.log, kubectl: join(this.binDir, 'kubectl'), ambitCRDErrors: 'warn' });
    // Awaited at the end; a failure meanwhile must not surface as an unhandled rejection.
    crds.catch(() => {});
    controlPlane.catch(() => {});
    // CoreDNS objects go in right away: the scheduler places the pod as soon as a node is Ready.
    const withAddons = opts.addons !== false && nodes.length > 0;
    const corednsApplied = withAddons ? this.applyCoreDNS() : Promise.resolve();
    corednsApplied.catch(() => {});

    // Real nodes (kubelet + containerd each), started in parallel; each writes its pod network config once
    // kube-controller-manager has given its Node a podCIDR.
    if (nodes.length) {
      const started = await startRealNodes({
        stateDir: this.stateDir,
        nodes,
        k8sBinDir: this.binDir,
        pki,
        apiserver: `https://127.0.0.1:${ports.apiserver}`,
        kubectl: this.kubectl,
        log: this.log,
        onUnexpectedExit: this.onUnexpectedExit,
      });
      this.nodeProcs.push(...started.procs);
      this.nodeNames.push(...started.names);
    }
    this.nodeNames.sort();

    // kube-proxy once the node it runs as exists (it reads its node IPs from the Node object).
    const kubeProxy = this.spawn(
      kubeProxyCommand(paths, { hostname: this.nodeNames[0] ?? nodeName(1), masqueradeAll: !this.network.brNetfilter }),
    );
    // kube-proxy prepends its own FORWARD jumps when it starts syncing: keep AMBIT-FORWARD first, checking often
    // until kube-proxy's jumps are in place, then as a slow safety net.
    let kubeProxyHooked = false;
    const guard = async () => {
      kubeProxyHooked = (await ensureForwardGuardFirst().catch(() => false)) || kubeProxyHooked;
      if (!this.stopping) this.guardTimer = setTimeout(() => void guard(), kubeProxyHooked ? 15_000 : 300).unref();
    };
    void guard();
    // Without a Node object kube-proxy does not get healthy: only wait for it when there are nodes.
    const proxyUp = this.nodeNames.length
      ? this.waitReady(kubeProxy, 'kube-proxy synced', async () => {
          if (!(await isOk(`http://127.0.0.1:${ports.kubeProxyHealthz}/healthz`))) return false;
          return ensureForwardGuardFirst();
        }, 60_000)
      : Promise.resolve();
    proxyUp.catch(() => {});

    await controlPlane;
    // The default ServiceAccount shows that kube-controller-manager's token machinery runs.
    await waitFor(
      'default ServiceAccount',
      async () => (await this.kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name'], { timeoutMs: 10_000 })).code === 0,
      60_000,
      300,
    );

    const addons = withAddons ? corednsApplied.then(() => this.waitCoreDNS()) : Promise.resolve();
    await Promise.all([crds, proxyUp, addons]);
    await this.writeRecord();
    this.log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${this.nodeNames.length} node(s); KUBECONFIG=${this.kubeconfigPath}`);
  }

  private corednsApplyStarted = 0;

  private async applyCoreDNS(): Promise<void> {
    this.corednsApplyStarted = Date.now();
    const r = await this.kubectl(['apply', '--server-side', '--field-manager=ambit-cluster', '-f', '-'], {
      input: corednsManifest(1),
    });
    if (r.code !== 0) throw new Error(`applying CoreDNS: ${r.stderr}`);
  }

  private async waitCoreDNS(): Promise<void> {
    const started = this.corednsApplyStarted;
    const w = await this.kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=90s'], {
      timeoutMs: 95_000,
    });
    if (w.code !== 0) {
      // DNS is needed by most tests, but a broken add-on should not hide the rest of the cluster: say it loudly.
      this.log(`WARNING: CoreDNS not available after 90s: ${w.stderr.trim() || w.stdout.trim()}`);
      const pods = await this.kubectl(['-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'wide']);
      const events = await this.kubectl(['-n', 'kube-system', 'get', 'events', '--sort-by=.lastTimestamp']);
      this.log(`CoreDNS pods:\n${pods.stdout}${pods.stderr}\nkube-system events (last 15):\n${events.stdout.trim().split('\n').slice(-15).join('\n')}`);
      return;
    }
    this.log(`CoreDNS available at ${net.dnsServiceIP} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  }

  private async writeRecord(): Promise<void> {
    const record: ClusterRecord = {
      pid: process.pid,
      stateDir: this.stateDir,
      kubeconfigPath: this.kubeconfigPath,
      binDir: this.binDir,
      nodeNames: this.nodeNames,
    };
    await writeFile(join(this.stateDir, 'cluster.json'), JSON.stringify(record, null, 2) + '\n');
    await writeFile(machineLockFile, JSON.stringify(record, null, 2) + '\n');
  }

  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const t0 = Date.now();
    this.stopping = true;
    await rm(`${this.stateDir}-last-logs`, { recursive: true, force: true });
    if (this.guardTimer) clearTimeout(this.guardTimer);
    await this.loadBalancer?.stop();
    // The pods' network namespaces: named after the pods' UIDs (ask while the apiserver still runs) and
    // attached to our bridge.
    const podNetns = new Set<string>(await netnsOnBridge(net.bridge));
    const apiserverUp = this.procs.some((p) => p.name === 'kube-apiserver' && p.running);
    if (apiserverUp) {
      const uids = await this.kubectl(['get', 'pods', '-A', '-o', 'jsonpath={.items[*].metadata.uid}'], { timeoutMs: 10_000 });
      for (const uid of uids.stdout.split(/\s+/).filter(Boolean)) podNetns.add(`ambit-${uid}`);
    }
    // Nodes first (they stop their pods), then the control plane in reverse start order.
    await Promise.all(this.nodeProcs.map((p) => p.stop(10_000)));
    for (const line of await teardownRealNodes(this.stateDir)) this.log(`removed ${line}`);
    this.log(`nodes stopped (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    const byName = (n: string) => this.procs.filter((p) => p.name === n);
    await Promise.all(['kube-proxy', 'kube-scheduler', 'kube-controller-manager'].flatMap(byName).map((p) => p.stop()));
    for (const n of ['kube-apiserver', 'etcd']) await Promise.all(byName(n).map((p) => p.stop()));
    await Promise.all(this.procs.map((p) => p.stop()));

    // What the node agents left behind: pod processes (killed with their namespaces), anything from the bin dir
    // that descends from us, anything whose command line points into the state dir.
    for (const ns of await netnsOnBridge(net.bridge)) podNetns.add(ns);
    await deleteNamedNetns(podNetns);
    const all = await listProcesses();
    const strays: ProcInfo[] = descendants(all, process.pid).filter((p) => p.exe.startsWith(`${this.binDir}/`));
    strays.push(...(await processesMentioning(this.stateDir)));
    if (strays.length) await killPids([...new Set(strays.map((p) => p.pid))]);
    await unmountUnder(this.stateDir);
    await removeClusterChains(this.binDir);
    await teardownHostNetwork(this.network);
    // Keep the component logs of the last cluster for a post-mortem (next to the state dir, outside it).
    await cp(join(this.stateDir, 'logs'), `${this.stateDir}-last-logs`, { recursive: true, force: true }).catch(() => {});
    await removeStateDir(this.stateDir);
    const lock = await readMachineLock();
    if (!lock || lock.pid === process.pid) await rm(machineLockFile, { force: true });
    this.log(`cluster stopped in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
}

/**
 * Start the local cluster, supervised by this process: returns once the control plane, the nodes, kube-proxy,
 * CoreDNS and the CRDs are ready. One cluster per machine (bridge, ports and chains are machine-wide).
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  if (process.getuid?.() !== 0) throw new Error('the local cluster needs root (network namespaces, iptables)');
  const stateDir = opts.stateDir ?? defaultStateDir;
  const lock = await readMachineLock();
  if (lock && lock.pid !== process.pid && isAlive(lock.pid)) {
    throw new Error(
      `another local cluster is running on this machine (supervisor pid ${lock.pid}, state ${lock.stateDir}); stop it first (npm run cluster:down)`,
    );
  }
  // The lock can be gone while a cluster still runs (removed by hand): its ports tell.
  const busy = await busyPorts([ports.apiserver, ports.etcdClient, ports.etcdPeer]);
  if (busy.length) {
    throw new Error(
      `ports ${busy.join(', ')} on this machine are in use: another local cluster (or something else) runs; stop it first (npm run cluster:down)`,
    );
  }
  const binDir = await buildControlPlane({ log });
  if (lock || existsSync(stateDir) || (await bridgeExists())) {
    // An earlier cluster's supervisor died (its ports are free): remove what it left.
    const removed = lock && lock.stateDir !== stateDir ? await cleanupStateDir(lock.stateDir, binDir) : [];
    removed.push(...(await cleanupStateDir(stateDir, binDir)));
    if (removed.length) log(`removed leftovers of an earlier cluster: ${removed.join(', ')}`);
  }
  await mkdir(stateDir, { recursive: true });
  // Claim the machine before touching it.
  await writeFile(
    machineLockFile,
    JSON.stringify({ pid: process.pid, stateDir, kubeconfigPath: join(stateDir, 'kubeconfig'), binDir, nodeNames: [] }) + '\n',
  );
  const cluster = new LocalCluster(stateDir, binDir, log);
  try {
    await cluster.start(opts);
  } catch (e) {
    log(`cluster start failed, tearing down: ${(e as Error).message.split('\n')[0]}`);
    await cluster.stop().catch((err: Error) => log(`teardown after failed start: ${err.message}`));
    throw e;
  }
  return cluster;
}

/**
 * A handle on a running cluster by its kubeconfig (integration tests get it from AMBIT_KUBECONFIG). stop() does
 * not stop it: the cluster belongs to whoever started it.
 */
export async function connectCluster(kubeconfigPath: string): Promise<Cluster> {
  if (!existsSync(kubeconfigPath)) throw new Error(`no kubeconfig at ${kubeconfigPath}`);
  const lock = await readMachineLock();
  const binDir = lock?.binDir && existsSync(join(lock.binDir, 'kubectl')) ? lock.binDir : await buildControlPlane();
  const kubectl = kubectlRunner(binDir, kubeconfigPath);
  const r = await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`cannot reach the cluster of ${kubeconfigPath}: ${r.stderr.trim()}`);
  const nodeNames = r.stdout.split(/\s+/).filter(Boolean).sort();
  return {
    kubeconfigPath,
    stateDir: lock?.stateDir ?? '',
    binDir,
    nodeNames,
    kubectl,
    stop: async () => {},
  };
}

