// A silent API server must not leave the controller believing stale things: a watch the server never ends is
// replaced, and a leader whose renewals go unanswered steps down before a standby can take the lease.
import test from 'ava';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KubeClient, Informer, LeaderElector, Registry, type ResourceType } from '../src/kube/index.js';
import { FakeApiServer } from './fake-apiserver.js';

const CM: ResourceType = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

/** A loopback HTTP proxy to `target` that, once `silent` is set, accepts requests and never answers them. */
async function silentProxy(target: string): Promise<{ url: string; silence(): void; close(): Promise<void> }> {
  let silent = false;
  const held: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (silent) return void held.push(res);
    const up = request(target + req.url, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    silence: () => { silent = true; },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

test('a watch the server never ends is presumed dead and replaced by a new one', async (t) => {
  const api = new FakeApiServer(); // ignores timeoutSeconds: its watches stay open until closed
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  const inf = new Informer(client, CM, { namespace: 'default', registry: new Registry(), watchTimeoutSeconds: 1 });
  await inf.start();
  const watches = () => api.requests.filter((r) => r.includes('watch=true')).length;
  await until(() => watches() >= 1);
  await until(() => watches() >= 2);
  t.true(watches() >= 2);
  await inf.stop();
  client.close();
  await api.stop();
});

test('a leader whose API server stops answering steps down before the standby takes the lease', async (t) => {
  const api = new FakeApiServer();
  const url = await api.start();
  const proxy = await silentProxy(url);
  const clientA = new KubeClient({ server: proxy.url, namespace: 'default', source: 'test' });
  const clientB = new KubeClient({ server: url, namespace: 'default', source: 'test' });
  const opts = { namespace: 'istio-system', name: 'lock', leaseDurationSeconds: 1, renewDeadlineMs: 600, retryPeriodMs: 100, registry: new Registry() };
  const a = new LeaderElector(clientA, { ...opts, identity: 'a' });
  const b = new LeaderElector(clientB, { ...opts, identity: 'b' });
  const leading = new Set<string>();
  let overlap = false;
  const cb = (id: string) => ({
    onStartedLeading: () => {
      leading.add(id);
      if (leading.size > 1) overlap = true;
    },
    onStoppedLeading: () => void leading.delete(id),
  });
  a.start(cb('a'));
  await until(() => leading.has('a'));
  b.start(cb('b'));
  await sleep(500);
  proxy.silence(); // a's renewals now hang: no error, no answer
  await until(() => leading.has('b'));
  t.false(leading.has('a'), 'a still leads while b leads');
  t.false(overlap, 'two leaders at once');
  await b.stop();
  proxy.close().catch(() => {});
  await a.stop();
  clientA.close();
  clientB.close();
  await api.stop();
});
