// The Node object: registration, status (conditions, addresses, capacity, kubelet endpoint), the heartbeat
// Lease in kube-node-lease, and the podCIDR that kube-controller-manager assigns.
import { arch, release } from 'node:os';
import type { V1Node, V1NodeStatus } from '@kubernetes/client-node';
import { nodeAllocatable } from './fieldpath.js';
import { errorMessage, mergePatch, microTime, statusCode, type Clients } from './kube.js';
import type { Log } from './log.js';

export const kubeletVersion = 'v1.36.3';
export const leaseDurationSeconds = 40;

export function goArch(a = arch()): string {
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

export interface NodeIdentity {
  name: string;
  address: string;
  kubeletPort: number;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: string }>;
}

export function nodeObject(n: NodeIdentity): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': goArch(),
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': goArch(),
        ...(n.labels ?? {}),
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: n.taints?.length ? { taints: n.taints } : {},
  };
}

export function nodeStatus(n: NodeIdentity, now: Date, since: Date): V1NodeStatus {
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: since,
  });
  return {
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status (Ambit virtual node)'),
    ],
    addresses: [
      { type: 'InternalIP', address: n.address },
      { type: 'Hostname', address: n.name },
    ],
    capacity: { ...nodeAllocatable },
    allocatable: { ...nodeAllocatable },
    daemonEndpoints: { kubeletEndpoint: { Port: n.kubeletPort } },
    nodeInfo: {
      machineID: n.name,
      systemUUID: n.name,
      bootID: `${n.name}-${since.getTime()}`,
      kernelVersion: release(),
      osImage: 'Ambit virtual node',
      containerRuntimeVersion: 'ambit://0.1.0',
      kubeletVersion,
      kubeProxyVersion: kubeletVersion,
      operatingSystem: 'linux',
      architecture: goArch(),
    },
  };
}

export class NodeRegistration {
  private readonly since = new Date();
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private stopped = false;
  /** Called after the Node object had to be created again (it may get another podCIDR). */
  onReregistered?: () => void;

  constructor(
    private readonly clients: Clients,
    private readonly id: NodeIdentity,
    private readonly log: Log,
  ) {}

  async register(): Promise<V1Node> {
    const desired = nodeObject(this.id);
    let node: V1Node;
    try {
      node = await this.clients.core.createNode({ body: { ...desired, status: nodeStatus(this.id, new Date(), this.since) } });
      this.log(`node ${this.id.name} registered`);
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      node = await this.clients.core.patchNode({ name: this.id.name, body: { metadata: desired.metadata, ...(this.id.taints?.length ? { spec: { taints: this.id.taints } } : {}) } }, mergePatch);
      this.log(`node ${this.id.name} re-registered (existed)`);
    }
    await this.updateStatus();
    await this.renewLease();
    return node;
  }

  async updateStatus(): Promise<void> {
    await this.clients.core.patchNodeStatus({ name: this.id.name, body: { status: nodeStatus(this.id, new Date(), this.since) } }, mergePatch);
  }

  async renewLease(): Promise<void> {
    const namespace = 'kube-node-lease';
    const name = this.id.name;
    const spec = { holderIdentity: name, leaseDurationSeconds, renewTime: microTime(new Date()) };
    try {
      await this.clients.coordination.patchNamespacedLease({ name, namespace, body: { spec } }, mergePatch);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      const node = await this.clients.core.readNode({ name });
      await this.clients.coordination.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name,
            namespace,
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata!.uid! }],
          },
          spec: { holderIdentity: name, leaseDurationSeconds },
        },
      });
      await this.clients.coordination.patchNamespacedLease({ name, namespace, body: { spec } }, mergePatch);
    }
  }

  /** spec.podCIDR, once kube-controller-manager has assigned it. */
  async waitPodCIDR(timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const node = await this.clients.core.readNode({ name: this.id.name });
      if (node.spec?.podCIDR) return node.spec.podCIDR;
      if (Date.now() > deadline) throw new Error(`node ${this.id.name}: no podCIDR assigned after ${timeoutMs / 1000}s (is kube-controller-manager running with --allocate-node-cidrs?)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  startHeartbeats(): void {
    const loop = (fn: () => Promise<void>, what: string, ms: number, set: (t: NodeJS.Timeout) => void): void => {
      const tick = async (): Promise<void> => {
        if (this.stopped) return;
        try {
          // A request that never answers must not stop the heartbeat.
          await Promise.race([
            fn(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 15s')), 15_000).unref()),
          ]);
        } catch (err) {
          this.log(`node ${this.id.name}: ${what} failed: ${errorMessage(err)}`);
        }
        if (!this.stopped) set(setTimeout(() => void tick(), ms));
      };
      set(setTimeout(() => void tick(), ms));
    };
    loop(() => this.renewLease(), 'lease renewal', 10_000, (t) => (this.leaseTimer = t));
    // A deleted Node object is registered again, as the kubelet does.
    const status = async (): Promise<void> => {
      try {
        await this.updateStatus();
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        this.log(`node ${this.id.name}: Node object gone, registering again`);
        await this.register();
        this.onReregistered?.();
      }
    };
    loop(status, 'node status update', 20_000, (t) => (this.statusTimer = t));
  }

  stop(): void {
    this.stopped = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    if (this.statusTimer) clearTimeout(this.statusTimer);
  }
}
