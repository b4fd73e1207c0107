// The local cluster's LoadBalancer controller (kind's cloud provider's or MetalLB's role): watches Services and
// writes each LoadBalancer Service an address of the pool into status.loadBalancer.ingress; kube-proxy then
// programs it and the host route to the pool makes it reachable from this machine.
import { listServices, patchIngress, watchServices, type ApiTarget, type KubeService } from './apiserver.js';
import { parsePool, planAddresses, type Pool, type ServiceView } from './pool.js';

export interface LoadBalancerAllocatorOptions {
  api: ApiTarget;
  cidr: string;
  log: (line: string) => void;
}

export function serviceView(s: KubeService): ServiceView {
  return {
    namespace: s.metadata.namespace,
    name: s.metadata.name,
    creationTimestamp: s.metadata.creationTimestamp,
    resourceVersion: s.metadata.resourceVersion,
    type: s.spec?.type,
    loadBalancerClass: s.spec?.loadBalancerClass || undefined,
    loadBalancerIP: s.spec?.loadBalancerIP || undefined,
    ingressIPs: (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
  };
}

export class LoadBalancerAllocator {
  private readonly pool: Pool;
  private readonly services = new Map<string, KubeService>();
  private readonly abort = new AbortController();
  private reconciling = false;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: LoadBalancerAllocatorOptions) {
    this.pool = parsePool(opts.cidr);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.retry) clearTimeout(this.retry);
    await this.loop?.catch(() => {});
  }

  /** List, then watch from the list's version; relist whenever the watch ends or fails. */
  private async run(): Promise<void> {
    const { signal } = this.abort;
    while (!signal.aborted) {
      try {
        const list = await listServices(this.opts.api, signal);
        this.services.clear();
        for (const s of list.items) this.services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
        this.schedule();
        let expired = false;
        await watchServices(
          this.opts.api,
          list.resourceVersion,
          (e) => {
            if (e.type === 'ERROR') expired = true;
            if (e.type === 'BOOKMARK' || e.type === 'ERROR') return;
            const k = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
            if (e.type === 'DELETED') this.services.delete(k);
            else this.services.set(k, e.object);
            this.schedule();
          },
          signal,
        );
        if (expired) continue;
      } catch (e) {
        if (signal.aborted) return;
        this.opts.log(`loadbalancer: ${(e as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** One reconcile at a time; events during one make it run again once it is done. */
  private schedule(): void {
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = true;
    void this.reconcile().finally(() => {
      this.reconciling = false;
      if (this.again && !this.abort.signal.aborted) {
        this.again = false;
        this.schedule();
      }
    });
  }

  private async reconcile(): Promise<void> {
    const decisions = planAddresses([...this.services.values()].map(serviceView), this.pool);
    let failed = false;
    for (const d of decisions) {
      if (this.abort.signal.aborted) return;
      const { code, service } = await patchIngress(this.opts.api, d.namespace, d.name, d.ips, d.resourceVersion).catch(() => ({ code: 0, service: undefined }));
      // Our own write is part of the view at once: the next decision must not hand this address out again.
      if (service) this.services.set(`${d.namespace}/${d.name}`, service);
      if (code === 200) this.opts.log(`loadbalancer: ${d.namespace}/${d.name} -> ${d.ips.join(',') || 'none'} (${d.why})`);
      else if (code !== 404) failed = true; // 409: a newer version is on its way through the watch
    }
    if (failed && !this.abort.signal.aborted) {
      if (this.retry) clearTimeout(this.retry);
      this.retry = setTimeout(() => this.schedule(), 1000);
    }
  }
}
