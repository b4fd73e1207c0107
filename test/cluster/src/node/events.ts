// Pod events as the kubelet records them (Pulled, Created, Started, Killing, BackOff, Unhealthy, Failed,
// FailedMount), so `kubectl describe pod` and `kubectl get events` tell what happened. Best effort: an event that
// cannot be written is dropped; the same event for the same object is written at most every 30s.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { Log } from './log.js';
import { errorMessage } from './kube.js';

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  emit(pod: V1Pod, type: EventType, reason: string, message: string, container?: string): void;
}

export class KubeEventSink implements EventSink {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly node: string,
    private readonly log: Log,
    private readonly minIntervalMs = 30_000,
  ) {}

  emit(pod: V1Pod, type: EventType, reason: string, message: string, container?: string): void {
    const md = pod.metadata ?? {};
    const key = `${md.uid}/${container ?? ''}/${reason}/${message}`;
    const now = Date.now();
    if ((this.recent.get(key) ?? 0) > now - this.minIntervalMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 5000) {
      for (const [k, t] of this.recent) if (t < now - this.minIntervalMs) this.recent.delete(k);
    }
    const at = new Date();
    const isInit = container && (pod.spec?.initContainers ?? []).some((c) => c.name === container);
    void this.core
      .createNamespacedEvent({
        namespace: md.namespace!,
        body: {
          metadata: { generateName: `${md.name}.`, namespace: md.namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: md.name,
            namespace: md.namespace,
            uid: md.uid,
            resourceVersion: md.resourceVersion,
            ...(container ? { fieldPath: `spec.${isInit ? 'initContainers' : 'containers'}{${container}}` } : {}),
          },
          type,
          reason,
          message,
          source: { component: 'kubelet', host: this.node },
          reportingComponent: 'kubelet',
          reportingInstance: this.node,
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
      })
      .catch((err: unknown) => this.log(`event ${reason} for pod ${md.namespace}/${md.name} not recorded: ${errorMessage(err)}`));
  }
}

export const noEvents: EventSink = { emit: () => undefined };
