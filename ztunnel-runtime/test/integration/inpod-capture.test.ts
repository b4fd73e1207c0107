// In-pod capture on real network namespaces and iptables (root): two "pods" A and B on a private bridge, the in-pod
// rules in A, ztunnel-like listeners in A's netns, curl as the app.
import http from 'node:http';
import type net from 'node:net';
import test from 'ava';
import {
  type CapturedConnection,
  DEFAULT_INPOD_RULES,
  Netns,
  PodProxyListeners,
  applyRules,
  connectInNetns,
  createPodSocketFactory,
  currentNetnsInode,
  getSocketMark,
  listRules,
  listenInNetns,
  removeRules,
  renderRules,
  rulesMatch,
  runInNetns,
  socketNetnsInode,
} from '../../src/inpod/index.js';
import { type TwoPods, createTwoPods, curlFrom, sh } from './inpod-fixture.js';

const built: TwoPods[] = [];

interface World {
  pods: TwoPods;
  a: Netns;
  b: Netns;
  servers: net.Server[];
  listeners?: PodProxyListeners;
  outbound: CapturedConnection[];
  inbound: CapturedConnection[];
  hbone: net.Socket[];
  /** Relay sockets ztunnel-side opened (to check netns + mark). */
  relays: net.Socket[];
  /** Per relay, seen at connect: netns inode, mark, local address. */
  relayInfo: { inode: number; mark: number; local: string }[];
  /** Peer address of each 15008 connection. */
  hbonePeers: string[];
}

/** An HTTP app inside `ns` answering `<name> saw <client ip>`. */
async function app(w: World, ns: Netns, port: number, name: string): Promise<void> {
  const server = http.createServer((req, res) => res.end(`${name} saw ${req.socket.remoteAddress}\n`));
  await listenInNetns(ns, port, { server });
  w.servers.push(server);
}

/** Minimal stand-in for ztunnel's proxies: pipe to `host:port` through a pod socket. */
function relay(w: World, c: CapturedConnection, host: string, port: number, factory: (h: string, p: number, src?: string) => net.Socket, src?: string): void {
  if ([15001, 15006, 15008].includes(port)) return; // ztunnel: "attempted recursive call to ourselves"; held open here
  const up = factory(host, port, src);
  w.relays.push(up);
  up.once('connect', () => w.relayInfo.push({ inode: socketNetnsInode(up), mark: getSocketMark(up), local: up.localAddress ?? '' }));
  up.on('error', () => c.socket.destroy());
  c.socket.on('error', () => up.destroy());
  c.socket.pipe(up).pipe(c.socket);
}

async function world(t: import('ava').ExecutionContext): Promise<World> {
  const pods = await createTwoPods();
  const w: World = { pods, a: Netns.open(pods.a.path), b: Netns.open(pods.b.path), servers: [], outbound: [], inbound: [], hbone: [], relays: [], relayInfo: [], hbonePeers: [] };
  t.teardown(async () => {
    await w.listeners?.close({ drainMs: 0 });
    for (const r of w.relays) r.destroy();
    await Promise.all(w.servers.map((s) => new Promise((r) => { s.close(r); (s as http.Server).closeAllConnections?.(); })));
    w.a.close();
    w.b.close();
    await pods.destroy();
    const left = await pods.leftovers();
    if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`);
  });
  built.push(pods);
  return w;
}

/** A's proxy: outbound relays to the original destination; inbound plaintext relays to the app with the client's IP. */
async function startProxy(w: World, opts: { spoofInbound?: boolean } = {}): Promise<void> {
  const factory = createPodSocketFactory(w.a, { bindSourceIp: opts.spoofInbound });
  w.listeners = await PodProxyListeners.start(w.a, {
    onOutbound: (c) => {
      w.outbound.push(c);
      relay(w, c, c.originalDst.address, c.originalDst.port, factory);
    },
    onInbound: (c) => {
      w.inbound.push(c);
      relay(w, c, c.originalDst.address, c.originalDst.port, factory, opts.spoofInbound ? c.source.address : undefined);
    },
    onHboneSocket: (s) => {
      w.hbone.push(s);
      w.hbonePeers.push(s.remoteAddress ?? '');
      s.end('hbone listener\n');
    },
  });
}

test.serial('sockets created under runInNetns live in the pod netns; the thread returns home every time', async (t) => {
  const w = await world(t);
  const home = currentNetnsInode();
  for (let i = 0; i < 200; i++) {
    const server = await listenInNetns(w.a, 0);
    t.is(socketNetnsInode(server), w.a.inode);
    t.is(currentNetnsInode(), home);
    await new Promise((r) => server.close(r));
  }
  t.throws(() => runInNetns(w.a, () => Promise.resolve(1)), { message: /synchronous/ });
  t.is(currentNetnsInode(), home, 'back home after a throwing fn');
  // outbound: created in A, marked 1337, connects to B over the bridge
  await app(w, w.b, 9000, 'B');
  const s = connectInNetns(w.a, w.pods.b.ip, 9000);
  await new Promise((r, j) => s.once('connect', r).once('error', j));
  t.is(socketNetnsInode(s), w.a.inode);
  t.is(getSocketMark(s), 1337);
  t.is(s.localAddress, w.pods.a.ip);
  s.destroy();
  // connection errors surface as Node errors
  const refused = connectInNetns(w.a, w.pods.b.ip, 9001);
  const err = await new Promise<NodeJS.ErrnoException>((r) => refused.once('error', r));
  t.is(err.code, 'ECONNREFUSED');
});

test.serial('rules: installed as rendered, idempotent, removable', async (t) => {
  const w = await world(t);
  await applyRules(w.pods.a.path);
  const first = await listRules(w.pods.a.path);
  t.true(rulesMatch(first), JSON.stringify(first.iptables, null, 1));
  t.deepEqual(first.iptables.raw, [], 'no DNS capture by default');
  t.is(first.ipRules.length, 1);
  t.regex(first.ipRules[0]!, /fwmark 0x111\/0xfff lookup 100/);
  t.deepEqual(first.ipRoutes, ['local default dev lo scope host']);
  await applyRules(w.pods.a.path);
  t.deepEqual(await listRules(w.pods.a.path), first, 're-apply changes nothing');
  // DNS capture on and off again: raw table appears, then goes
  await applyRules(w.pods.a.path, { redirectDns: true });
  const dns = await listRules(w.pods.a.path);
  t.true(rulesMatch(dns, { redirectDns: true }), JSON.stringify(dns.iptables, null, 1));
  t.is(dns.iptables.raw.length, renderRules({ redirectDns: true }).raw!.length);
  await applyRules(w.pods.a.path);
  t.deepEqual(await listRules(w.pods.a.path), first);
  await removeRules(w.pods.a.path);
  t.deepEqual(await listRules(w.pods.a.path), { iptables: { mangle: [], nat: [], raw: [] }, ipRules: [], ipRoutes: [] });
  const save = await sh('ip', ['netns', 'exec', w.pods.a.name, 'iptables-save']);
  t.notRegex(save, /ISTIO/);
  await removeRules(w.pods.a.path); // no-op
  t.is(DEFAULT_INPOD_RULES.mark, 1337);
});

test.serial('outbound: the app’s connection lands on 15001 with its original destination; the relay is not recaptured', async (t) => {
  const w = await world(t);
  await app(w, w.b, 9000, 'B');
  await startProxy(w);
  await applyRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.a, `http://${w.pods.b.ip}:9000/`), `B saw ${w.pods.a.ip}\n`);
  t.is(w.outbound.length, 1);
  t.deepEqual(w.outbound[0]!.originalDst, { address: w.pods.b.ip, port: 9000 });
  t.is(w.outbound[0]!.source.address, w.pods.a.ip);
  t.is(w.relays.length, 1, 'one relay connection, not a loop through 15001');
  t.deepEqual(w.relayInfo, [{ inode: w.a.inode, mark: 1337, local: w.pods.a.ip }]);
  t.is(w.inbound.length + w.hbone.length, 0);
});

test.serial('inbound: plaintext to A:8080 lands on 15006 with originalDst A:8080; :15008 is not redirected', async (t) => {
  const w = await world(t);
  await app(w, w.a, 8080, 'A');
  await startProxy(w);
  await applyRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.b, `http://${w.pods.a.ip}:8080/`), `A saw ${w.pods.a.ip}\n`, 'relayed from A\'s own IP');
  t.is(w.inbound.length, 1);
  t.deepEqual(w.inbound[0]!.originalDst, { address: w.pods.a.ip, port: 8080 });
  t.deepEqual(w.inbound[0]!.source.address, w.pods.b.ip);
  t.is(w.relays.length, 1);
  // HBONE port reaches the 15008 listener itself, not 15006
  t.is(await curlFrom(w.pods.b, `http://${w.pods.a.ip}:15008/`), 'curl exit 1');
  t.is(w.hbone.length, 1);
  t.deepEqual(w.hbonePeers, [w.pods.b.ip]);
  t.is(w.inbound.length, 1);
  t.is(w.outbound.length, 0);
});

test.serial('inbound with source spoofing: the app sees the real client IP (policy route for 0x111)', async (t) => {
  const w = await world(t);
  await app(w, w.a, 8080, 'A');
  await startProxy(w, { spoofInbound: true });
  await applyRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.b, `http://${w.pods.a.ip}:8080/`), `A saw ${w.pods.b.ip}\n`);
  t.is(w.inbound.length, 1);
  t.is(w.outbound.length, 0);
});

test.serial('probes from inside the pod netns (127.0.0.1 and the pod IP) reach the app directly', async (t) => {
  const w = await world(t);
  await app(w, w.a, 8080, 'A');
  await startProxy(w);
  await applyRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.a, 'http://127.0.0.1:8080/healthz'), 'A saw 127.0.0.1\n');
  t.is(await curlFrom(w.pods.a, `http://${w.pods.a.ip}:8080/healthz`), `A saw ${w.pods.a.ip}\n`);
  t.is(w.inbound.length + w.outbound.length + w.hbone.length, 0, 'nothing captured');
});

test.serial('removeRules restores direct traffic; re-applying captures again', async (t) => {
  const w = await world(t);
  await app(w, w.b, 9000, 'B');
  await app(w, w.a, 8080, 'A');
  await startProxy(w);
  await applyRules(w.pods.a.path);
  await applyRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.a, `http://${w.pods.b.ip}:9000/`), `B saw ${w.pods.a.ip}\n`);
  t.is(w.outbound.length, 1, 'idempotent apply: captured once');
  await removeRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.a, `http://${w.pods.b.ip}:9000/`), `B saw ${w.pods.a.ip}\n`);
  t.is(await curlFrom(w.pods.b, `http://${w.pods.a.ip}:8080/`), `A saw ${w.pods.b.ip}\n`);
  t.is(w.outbound.length, 1);
  t.is(w.inbound.length, 0);
  await applyRules(w.pods.a.path);
  t.is(await curlFrom(w.pods.a, `http://${w.pods.b.ip}:9000/`), `B saw ${w.pods.a.ip}\n`);
  t.is(w.outbound.length, 2);
});

test.serial('close() stops accepting and drains: an open connection finishes, the port is gone', async (t) => {
  const w = await world(t);
  await app(w, w.b, 9000, 'B');
  await startProxy(w);
  // a connection to 15001 held open by the test (as if mid-request)
  const held = connectInNetns(w.a, '127.0.0.1', 15001, { mark: 0 });
  await new Promise((r) => held.once('connect', r));
  await new Promise((r) => setImmediate(r));
  t.is(w.listeners!.activeConnections, 1);
  const closing = w.listeners!.close({ drainMs: 10_000 });
  const refused = connectInNetns(w.a, '127.0.0.1', 15001, { mark: 0 });
  t.is((await new Promise<NodeJS.ErrnoException>((r) => refused.once('error', r))).code, 'ECONNREFUSED');
  held.destroy();
  await closing;
  t.is(w.listeners!.activeConnections, 0);
});

test.serial('hand-over: a second proxy binds next to the first (SO_REUSEPORT) and serves every connection once the first closes', async (t) => {
  const w = await world(t);
  await app(w, w.b, 9000, 'B');
  await startProxy(w);
  await applyRules(w.pods.a.path);
  const first = w.listeners!;
  // The successor, as a new ztunnel on the node opens it: same ports in the same pod netns, while the first still serves.
  const taken: string[] = [];
  const factory = createPodSocketFactory(w.a);
  const second = await PodProxyListeners.start(w.a, {
    onOutbound: (c) => {
      taken.push('second');
      relay(w, c, c.originalDst.address, c.originalDst.port, factory);
    },
    onInbound: (c) => c.socket.destroy(),
    onHboneSocket: (s) => s.destroy(),
  });
  t.teardown(() => second.close({ drainMs: 0 }));
  await first.close({ drainMs: 0 });
  for (let i = 0; i < 10; i++) t.is(await curlFrom(w.pods.a, `http://${w.pods.b.ip}:9000/`), `B saw ${w.pods.a.ip}\n`);
  t.is(taken.length, 10, 'every connection after the first closed went to the second');
});

test.serial('teardown left no namespace, link or rule behind', async (t) => {
  t.true(built.length >= 8);
  for (const pods of built) t.deepEqual(await pods.leftovers(), []);
});
