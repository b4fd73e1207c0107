// Whether Ambit is on a cluster, and the wait a test owes before installing it: the two steps every cluster test's
// set-up shares (MeshFixture, openMeshCluster), so a test never installs into a system namespace still being deleted.
import type { Cluster } from './cluster.js';
import { waitFor } from './controlplane/exec.js';

/** Whether the mesh is installed: the ztunnel DaemonSet exists. */
export async function meshInstalled(cluster: Cluster): Promise<boolean> {
  return (await cluster.kubectl(['get', 'daemonset', 'ztunnel', '-n', 'istio-system', '-o', 'name'])).code === 0;
}

/** Whether add-on `name` (`ambit install --addons <name>`) is installed: its Deployment in istio-system exists. */
export async function addonInstalled(cluster: Cluster, name: string): Promise<boolean> {
  return (await cluster.kubectl(['get', 'deployment', name, '-n', 'istio-system', '-o', 'name'])).code === 0;
}

/** Waits (up to 3 minutes) until istio-system is not Terminating: a previous uninstall may still be deleting it. */
export async function waitSystemNamespaceSettled(cluster: Cluster): Promise<void> {
  await waitFor('istio-system not terminating', async () => {
    const phase = await cluster.kubectl(['get', 'namespace', 'istio-system', '-o', 'jsonpath={.status.phase}']);
    return phase.code !== 0 || phase.stdout.trim() !== 'Terminating';
  }, 180_000, 1000);
}
