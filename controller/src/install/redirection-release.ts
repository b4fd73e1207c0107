// Before ztunnel is removed, pods that left the mesh (namespace label or pod label removed) must have been
// released by it: rules out of their netns and the `ambient.istio.io/redirection` annotation gone. Removing
// ztunnel first would strand them redirected to listeners that no longer exist. Pods still enrolled are only
// reported: they stay captured, as in Istio, until their label is removed.
import { KubeClient } from '../kube/client.js';
import { R, type KubeObject } from '../kube/resources.js';

const REDIRECTION = 'ambient.istio.io/redirection';
const MODE = 'istio.io/dataplane-mode';

/** Istio's enrollment rule: pod label ambient, or namespace label ambient and pod label not none. */
export function stillEnrolled(pod: KubeObject, namespaceLabels: Record<string, string> | undefined): boolean {
  const own = pod.metadata.labels?.[MODE];
  return own === 'ambient' || (own !== 'none' && namespaceLabels?.[MODE] === 'ambient');
}

export async function waitForRedirectionRelease(client: KubeClient, log: (line: string) => void, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let warned = false;
  for (;;) {
    const [pods, namespaces] = await Promise.all([client.listAll(R.pod), client.listAll(R.namespace)]);
    const nsLabels = new Map(namespaces.items.map((n) => [n.metadata.name!, n.metadata.labels]));
    const redirected = pods.items.filter((p) => p.metadata.annotations?.[REDIRECTION] === 'enabled');
    const leaving = redirected.filter((p) => !stillEnrolled(p, nsLabels.get(p.metadata.namespace!)));
    if (!warned) {
      const staying = [...new Set(redirected.filter((p) => stillEnrolled(p, nsLabels.get(p.metadata.namespace!))).map((p) => p.metadata.namespace!))];
      for (const ns of staying) log(`warning: namespace ${ns} still has pods in ambient mode: remove the label first (kubectl label namespace ${ns} ${MODE}-), or they stay redirected without ztunnel`);
      warned = true;
    }
    if (leaving.length === 0) return;
    if (Date.now() > deadline) {
      log(`warning: ${leaving.length} pod(s) not yet released by ztunnel, removing it anyway`);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
