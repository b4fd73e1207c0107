// A small Kubernetes REST client over node:https with keep-alive: JSON requests, server-side apply, status
// subresources and streaming watches. Errors carry the API's Status (code, reason, message).
import http from 'node:http';
import https from 'node:https';
import { stringify } from 'yaml';
import type { ClusterAccess } from './kubeconfig.js';
import { resourcePath, type KubeObject, type ObjectList, type ResourceType } from './resources.js';

export class KubeError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the server could not be reached. */
    readonly code: number,
    readonly reason = '',
    readonly details?: unknown,
  ) {
    super(message);
  }
  get notFound(): boolean {
    return this.code === 404;
  }
  get conflict(): boolean {
    return this.code === 409;
  }
  get gone(): boolean {
    return this.code === 410;
  }
  get forbidden(): boolean {
    return this.code === 403;
  }
  get unreachable(): boolean {
    return this.code === 0;
  }
}

export interface RequestOptions {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ApplyOptions {
  fieldManager: string;
  force?: boolean;
  subresource?: string;
  dryRun?: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
}

const qs = (q: RequestOptions['query']): string => {
  if (!q) return '';
  const parts = Object.entries(q)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
};

export class KubeClient {
  private readonly agent: http.Agent;
  private readonly url: URL;
  /** Requests sent, for benchmarks and metrics. */
  requests = 0;

  constructor(readonly access: ClusterAccess) {
    this.url = new URL(access.server);
    const opts: https.AgentOptions = {
      keepAlive: true,
      maxSockets: 64,
      ca: access.ca,
      cert: access.cert,
      key: access.key,
      rejectUnauthorized: !access.insecureSkipTLSVerify,
      servername: access.tlsServerName,
    };
    this.agent = this.url.protocol === 'http:' ? new http.Agent({ keepAlive: true, maxSockets: 64 }) : new https.Agent(opts);
  }

  get namespace(): string {
    return this.access.namespace;
  }

  close(): void {
    this.agent.destroy();
  }

  /** The Authorization header, asked of the credentials for every request (tokens rotate and expire). */
  private async authorization(): Promise<string | undefined> {
    const token = await this.access.token?.();
    if (token) return `Bearer ${token}`;
    if (this.access.basic) return `Basic ${Buffer.from(`${this.access.basic.username}:${this.access.basic.password}`).toString('base64')}`;
    return undefined;
  }

  private open(opts: RequestOptions, authorization: string | undefined, onResponse: (res: http.IncomingMessage) => void, onError: (err: Error) => void): http.ClientRequest {
    const mod = this.url.protocol === 'http:' ? http : https;
    let payload: string | undefined;
    let contentType = opts.contentType;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      contentType ??= 'application/json';
    }
    const basePath = this.url.pathname === '/' ? '' : this.url.pathname.replace(/\/+$/, '');
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json', 'user-agent': 'ambit/0.1' };
    if (contentType) headers['content-type'] = contentType;
    if (authorization) headers.authorization = authorization;
    if (payload !== undefined) headers['content-length'] = Buffer.byteLength(payload);
    this.requests++;
    const req = mod.request(
      {
        protocol: this.url.protocol,
        hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
        port: this.url.port || (this.url.protocol === 'http:' ? 80 : 443),
        method: opts.method ?? 'GET',
        path: basePath + opts.path + qs(opts.query),
        headers,
        agent: this.agent,
        signal: opts.signal,
      },
      onResponse,
    );
    req.on('error', onError);
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`request timed out after ${opts.timeoutMs}ms`)));
    req.end(payload);
    return req;
  }

  private wrapError(err: Error & { code?: string }): KubeError {
    if (err instanceof KubeError) return err;
    if (err.name === 'AbortError') return new KubeError('request aborted', 0, 'Aborted');
    return new KubeError(`cannot reach the Kubernetes API server at ${this.access.server}: ${err.code ?? err.message}`, 0, 'Unreachable');
  }

  /** One JSON request; resolves with the parsed body, rejects with KubeError. */
  async request<T = unknown>(opts: RequestOptions): Promise<T> {
    const authorization = await this.authorization();
    return new Promise<T>((resolve, reject) => {
      this.open(
        opts,
        authorization,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(this.wrapError(e)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            let body: unknown = text;
            if (text && (res.headers['content-type'] ?? '').includes('json')) {
              try {
                body = JSON.parse(text);
              } catch {
                /* keep text */
              }
            }
            if (code >= 200 && code < 300) return resolve(body as T);
            const st = (typeof body === 'object' && body ? body : {}) as { message?: string; reason?: string; details?: unknown };
            reject(new KubeError(st.message ?? (text.trim() || `HTTP ${code}`), code, st.reason ?? '', st.details));
          });
        },
        (err) => reject(this.wrapError(err)),
      );
    });
  }

  get<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, name: string, subresource?: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>({ path: resourcePath(rt, namespace, name, subresource), signal: opts.signal });
  }

  /** GET that resolves undefined on 404. */
  async getOrUndefined<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, name: string, opts: { signal?: AbortSignal } = {}): Promise<T | undefined> {
    try {
      return await this.get<T>(rt, namespace, name, undefined, opts);
    } catch (err) {
      if (err instanceof KubeError && err.notFound) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject>(rt: ResourceType, namespace?: string, opts: ListOptions & { continue?: string; resourceVersion?: string } = {}): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>({ path: resourcePath(rt, namespace), query: { ...opts } });
  }

  /** Lists every page. */
  async listAll<T extends KubeObject>(rt: ResourceType, namespace?: string, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.list<T>(rt, namespace, { ...opts, limit: opts.limit ?? 500, continue: cont });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    return { metadata: { resourceVersion: rv }, items };
  }

  create<T extends KubeObject>(rt: ResourceType, obj: KubeObject, opts: { fieldManager?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>({ method: 'POST', path: resourcePath(rt, obj.metadata.namespace), body: obj, query: { fieldManager: opts.fieldManager }, signal: opts.signal });
  }

  replace<T extends KubeObject>(rt: ResourceType, obj: KubeObject, subresource?: string, opts: { fieldManager?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>({ method: 'PUT', path: resourcePath(rt, obj.metadata.namespace, obj.metadata.name, subresource), body: obj, query: { fieldManager: opts.fieldManager }, signal: opts.signal });
  }

  /** Server-side apply: PATCH application/apply-patch+yaml with a field manager. */
  apply<T extends KubeObject>(rt: ResourceType, obj: KubeObject, opts: ApplyOptions): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path: resourcePath(rt, obj.metadata.namespace, obj.metadata.name, opts.subresource),
      contentType: 'application/apply-patch+yaml',
      body: stringify(obj),
      query: { fieldManager: opts.fieldManager, force: opts.force ? 'true' : undefined, dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  /** JSON merge patch. */
  mergePatch<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, name: string, patch: unknown, subresource?: string, fieldManager?: string): Promise<T> {
    return this.request<T>({ method: 'PATCH', path: resourcePath(rt, namespace, name, subresource), contentType: 'application/merge-patch+json', body: patch, query: { fieldManager } });
  }

  /** DELETE; resolves false on 404. Background propagation so owned objects follow. */
  async delete(rt: ResourceType, namespace: string | undefined, name: string, opts: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; uid?: string } = {}): Promise<boolean> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: opts.propagationPolicy ?? 'Background' };
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.request({ method: 'DELETE', path: resourcePath(rt, namespace, name), body });
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.notFound) return false;
      throw err;
    }
  }

  /**
   * Streams a watch. Calls onEvent for each event; resolves when the server closes the stream (normal timeout),
   * rejects with KubeError on HTTP errors (410 Gone included) or on a broken connection.
   */
  async watch<T>(
    rt: ResourceType,
    namespace: string | undefined,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (ev: WatchEvent<T>) => void,
    signal?: AbortSignal,
    /**
     * A stream still open this long after it started is presumed dead and destroyed (rejects): the server ends every
     * watch at `timeoutSeconds`, so a longer one means a connection dropped without a FIN or RST, which would
     * otherwise leave the cache silently stale for as long as the process runs.
     */
    deadlineMs?: number,
  ): Promise<void> {
    const authorization = await this.authorization();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let deadline: NodeJS.Timeout | undefined;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (err) reject(this.wrapError(err));
        else resolve();
      };
      const req = this.open(
        { path: resourcePath(rt, namespace), query: { ...query, watch: 'true' }, signal },
        authorization,
        (res) => {
          const code = res.statusCode ?? 0;
          if (code !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let msg = Buffer.concat(chunks).toString('utf8');
              let reason = '';
              try {
                const st = JSON.parse(msg) as { message?: string; reason?: string };
                msg = st.message ?? msg;
                reason = st.reason ?? '';
              } catch {
                /* text */
              }
              done(new KubeError(msg || `HTTP ${code}`, code, reason));
            });
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let i: number;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i).trim();
              buf = buf.slice(i + 1);
              if (!line) continue;
              let ev: WatchEvent<T>;
              try {
                ev = JSON.parse(line) as WatchEvent<T>;
              } catch {
                continue;
              }
              try {
                onEvent(ev);
              } catch (err) {
                res.destroy();
                done(err as Error);
                return;
              }
            }
          });
          res.on('end', () => done());
          res.on('error', (e) => done(e));
          res.on('close', () => done(res.complete ? undefined : new Error('watch stream closed before completion')));
        },
        (err) => done(err),
      );
      if (deadlineMs) {
        deadline = setTimeout(() => {
          const err = new Error(`watch stalled: still open ${Math.round(deadlineMs / 1000)} s after it started`);
          req.destroy(err);
          done(err);
        }, deadlineMs);
        deadline.unref();
      }
    });
  }
}
