// A minimal client of the kube-apiserver for the LoadBalancer allocator: list and watch Services, merge-patch
// a Service's status. HTTPS with the cluster's admin client certificate; nothing else from the API.
import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';

export interface ApiTarget {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

export interface KubeService {
  metadata: { namespace: string; name: string; creationTimestamp: string; resourceVersion?: string };
  spec?: { type?: string; loadBalancerClass?: string; loadBalancerIP?: string };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeService & { code?: number; message?: string };
}

function send(t: ApiTarget, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, t.server), {
      method,
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      signal,
      headers: {
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/merge-patch+json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(payload);
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

export async function listServices(t: ApiTarget, signal?: AbortSignal): Promise<{ items: KubeService[]; resourceVersion: string }> {
  const res = await send(t, 'GET', '/api/v1/services', undefined, signal);
  const text = await readAll(res);
  if (res.statusCode !== 200) throw new Error(`list services: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  const list = JSON.parse(text) as { items: KubeService[]; metadata: { resourceVersion: string } };
  return { items: list.items, resourceVersion: list.metadata.resourceVersion };
}

/** Streams watch events from `resourceVersion` until the server ends the watch or `signal` aborts it. */
export async function watchServices(t: ApiTarget, resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
  const path = `/api/v1/services?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${encodeURIComponent(resourceVersion)}`;
  const res = await send(t, 'GET', path, undefined, signal);
  if (res.statusCode !== 200) throw new Error(`watch services: HTTP ${res.statusCode}: ${(await readAll(res)).slice(0, 200)}`);
  let buffered = '';
  for await (const chunk of res) {
    buffered += (chunk as Buffer).toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) onEvent(JSON.parse(line) as WatchEvent);
    }
  }
}

/**
 * Replaces status.loadBalancer.ingress (null removes it); a stale resourceVersion gives HTTP 409. Resolves the
 * HTTP status and, on 200, the Service as written.
 */
export async function patchIngress(
  t: ApiTarget,
  namespace: string,
  name: string,
  ips: string[],
  resourceVersion?: string,
): Promise<{ code: number; service?: KubeService }> {
  const body = {
    metadata: resourceVersion ? { resourceVersion } : undefined,
    status: { loadBalancer: { ingress: ips.length ? ips.map((ip) => ({ ip, ipMode: 'VIP' })) : null } },
  };
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}/status`;
  const res = await send(t, 'PATCH', path, body);
  const text = await readAll(res);
  return res.statusCode === 200 ? { code: 200, service: JSON.parse(text) as KubeService } : { code: res.statusCode ?? 0 };
}
