// A tiny in-memory stand-in for the Kubernetes API on loopback, for unit tests of the kube layer: list, get,
// create, replace (with resourceVersion conflicts), delete, and watch (with 410 Gone for compacted versions).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Event {
  rv: number;
  collection: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

export class FakeApiServer {
  private server?: Server;
  private rv = 100;
  /** The next watch gets 410 Gone (as after etcd compaction), once. */
  expireNextWatch = false;
  private readonly objects = new Map<string, Obj>(); // key: collectionPath/name
  private readonly events: Event[] = [];
  private readonly watchers = new Set<{ collection: string; res: ServerResponse }>();
  readonly requests: string[] = [];
  /** API discovery (`/apis/<group>`, `/apis/<group>/<version>`): group -> version -> plurals served. */
  readonly groups = new Map<string, Map<string, string[]>>();
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Ends every open watch (as an API server does on timeout). */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  get resourceVersion(): number {
    return this.rv;
  }

  put(collection: string, obj: Obj, type?: 'ADDED' | 'MODIFIED'): Obj {
    const key = `${collection}/${obj.metadata.name}`;
    const existed = this.objects.has(key);
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, stored);
    this.emit({ rv: this.rv, collection, type: type ?? (existed ? 'MODIFIED' : 'ADDED'), object: stored });
    return stored;
  }

  remove(collection: string, name: string): boolean {
    const key = `${collection}/${name}`;
    const o = this.objects.get(key);
    if (!o) return false;
    this.objects.delete(key);
    const gone = structuredClone(o);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, collection, type: 'DELETED', object: gone });
    return true;
  }

  get(collection: string, name: string): Obj | undefined {
    return this.objects.get(`${collection}/${name}`);
  }

  private emit(ev: Event): void {
    this.events.push(ev);
    for (const w of this.watchers) if (w.collection === ev.collection) w.res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.send(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const parts = url.pathname.split('/').filter(Boolean);
    const served = parts[0] === 'apis' && req.method === 'GET' ? this.groups.get(parts[1] ?? '') : undefined;
    if (served && parts.length === 2) {
      const versions = [...served.keys()].map((version) => ({ groupVersion: `${parts[1]}/${version}`, version }));
      return this.send(res, 200, { kind: 'APIGroup', name: parts[1], versions, preferredVersion: versions[0] });
    }
    if (served && parts.length === 3 && served.has(parts[2]!)) return this.send(res, 200, { kind: 'APIResourceList', resources: served.get(parts[2]!)!.map((name) => ({ name })) });
    // /api/v1/... or /apis/g/v/...; collection = path up to plural; name optional.
    const base = parts[0] === 'api' ? 2 : 3;
    let i = base;
    if (parts[i] === 'namespaces' && parts.length > i + 2) i += 2;
    const collection = '/' + parts.slice(0, i + 1).join('/');
    const name = parts[i + 1];
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'GET' && !name && url.searchParams.get('watch') === 'true') return this.watch(collection, Number(url.searchParams.get('resourceVersion') ?? 0), res);
      if (req.method === 'GET' && !name) {
        const items = [...this.objects.entries()].filter(([k]) => k.startsWith(collection + '/')).map(([, o]) => o);
        return this.send(res, 200, { metadata: { resourceVersion: String(this.rv) }, items });
      }
      if (req.method === 'GET') {
        const o = this.get(collection, name);
        return o ? this.send(res, 200, o) : this.status(res, 404, 'NotFound', `"${name}" not found`);
      }
      if (req.method === 'POST') {
        const o = JSON.parse(body) as Obj;
        if (this.get(collection, o.metadata.name)) return this.status(res, 409, 'AlreadyExists', `"${o.metadata.name}" already exists`);
        return this.send(res, 201, this.put(collection, o));
      }
      if (req.method === 'PUT') {
        const o = JSON.parse(body) as Obj;
        const cur = this.get(collection, name);
        if (!cur) return this.status(res, 404, 'NotFound', `"${name}" not found`);
        if (o.metadata.resourceVersion !== cur.metadata.resourceVersion) return this.status(res, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
        return this.send(res, 200, this.put(collection, o));
      }
      if (req.method === 'DELETE') return this.remove(collection, name) ? this.send(res, 200, {}) : this.status(res, 404, 'NotFound', `"${name}" not found`);
      this.status(res, 405, 'MethodNotAllowed', 'method not allowed');
    });
  }

  private watch(collection: string, from: number, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (this.expireNextWatch) {
      this.expireNextWatch = false;
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: `too old resource version: ${from}` } }) + '\n');
      return;
    }
    for (const ev of this.events) if (ev.collection === collection && ev.rv > from) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
    const w = { collection, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}
