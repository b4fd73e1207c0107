// The agent's view of the apiserver: clients, ConfigMap/Secret/token data for volumes and env, pod deletion.
import { readFileSync } from 'node:fs';
import { CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import type { ServiceInfo } from './env.js';
import type { ClusterData, IssuedToken } from './volumes.js';

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
}

export function makeClients(kubeconfigPath: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { kc, core: kc.makeApiClient(CoreV1Api), coordination: kc.makeApiClient(CoordinationV1Api) };
}

export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const v of [e?.code, e?.statusCode, e?.response?.statusCode]) if (typeof v === 'number') return v;
  return undefined;
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** metav1.MicroTime wants exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function clusterCA(kc: KubeConfig): string {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return Buffer.from(cluster.caData, 'base64').toString('utf8');
  if (cluster?.caFile) return readFileSync(cluster.caFile, 'utf8');
  return '';
}

export class KubeClusterData implements ClusterData {
  private readonly ca: string;
  constructor(private readonly clients: Clients) {
    this.ca = clusterCA(clients.kc);
  }

  async configMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined> {
    try {
      const cm = await this.clients.core.readNamespacedConfigMap({ name, namespace });
      const out: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(cm.data ?? {})) out[k] = Buffer.from(v, 'utf8');
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
      return out;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined> {
    try {
      const s = await this.clients.core.readNamespacedSecret({ name, namespace });
      const out: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64');
      for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = Buffer.from(v, 'utf8');
      return out;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async token(pod: V1Pod, audiences: string[], expirationSeconds: number): Promise<IssuedToken> {
    const sa = pod.spec?.serviceAccountName || 'default';
    const res = await this.clients.core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: pod.metadata!.namespace!,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences,
          expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
        },
      },
    });
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for ${pod.metadata?.namespace}/${sa} returned no token`);
    const exp = res.status?.expirationTimestamp ? new Date(res.status.expirationTimestamp).getTime() : Date.now() + expirationSeconds * 1000;
    return { token, expiresAt: exp };
  }

  async services(namespace: string): Promise<ServiceInfo[]> {
    const list = await this.clients.core.listNamespacedService({ namespace });
    return list.items.map((s) => ({
      name: s.metadata?.name ?? '',
      clusterIP: s.spec?.clusterIP,
      ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    }));
  }

  caCert(): string {
    return this.ca;
  }
}

/** One line for logs and statuses: the apiserver's Status message when there is one (client-node puts the body in the message). */
export function errorMessage(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  if (typeof e?.code === 'number' && e.body !== undefined) {
    let msg: string | undefined;
    try {
      const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : (e.body as { message?: string });
      msg = body?.message;
    } catch {
      msg = undefined;
    }
    return `${msg ?? String(e.body).split('\n')[0]} (HTTP ${e.code})`;
  }
  return String(e?.message ?? err).split('\n')[0]!;
}
