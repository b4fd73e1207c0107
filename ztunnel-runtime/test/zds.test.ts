// ZDS over a real Unix SEQPACKET socket in a temp dir (no root needed): fds really arrive, acks and nacks, snapshot
// replay after an agent restart, two ztunnels during a rollout, bad input dropped with a log line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Netns } from '../src/inpod/netns.js';
import type { LevelLogger } from '@ambit/mesh-api';
import { SeqpacketConnection, type Frame } from '../src/zds/connection.js';
import { ZdsClient, ZdsNotConnectedError, ZdsServer, MAX_MESSAGE_BYTES, type WorkloadInfo } from '../src/zds/index.js';
import { Poller } from '../src/zds/poller.js';
import { acceptSeqpacket, connectSeqpacket, listenSeqpacket } from '../src/zds/sys.js';

function captureLog(): LevelLogger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string, fields?: string) => void lines.push(`${level} ${msg}${fields ? ' ' + fields : ''}`);
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

const tempDirs: string[] = [];
test.after.always(() => tempDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempSocket(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zds-'));
  tempDirs.push(dir);
  return path.join(dir, 'ztunnel.sock');
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A server stopped when the test ends, even a failed one (a pending poll would keep the process alive). */
function serverFor(t: ExecutionContext, socketPath: string, log = captureLog()): ZdsServer {
  const server = new ZdsServer({ socketPath, log });
  t.teardown(() => server.stop());
  return server;
}

const pod = (uid: string): WorkloadInfo => ({ uid, name: `pod-${uid}`, namespace: 'ns1', serviceAccount: 'sa1', ip: '10.244.1.7' });
const selfNetnsInode = () => fs.statSync('/proc/self/ns/net').ino;

/** A ztunnel stand-in: records what the hooks saw; `fail` makes onPodAdded throw. */
function fakeZtunnel(t: ExecutionContext, socketPath: string, opts: { fail?: string } = {}) {
  const added: { info: WorkloadInfo; inode: number; fd: number }[] = [];
  const removed: string[] = [];
  const log = captureLog();
  const client: ZdsClient = new ZdsClient({
    socketPath,
    log,
    retryMs: 20,
    hooks: {
      async onPodAdded(info, netns) {
        if (opts.fail) throw new Error(opts.fail);
        added.push({ info, inode: netns.inode, fd: netns.fd });
      },
      async onPodRemoved(uid) {
        removed.push(uid);
      },
    },
  });
  t.teardown(() => client.stop());
  return { client, added, removed, log };
}

test('an added pod reaches ztunnel with its netns fd: same namespace (inode), a new fd, acked', async (t) => {
  const sock = tempSocket();
  const server = serverFor(t, sock);
  await server.start();
  t.is(fs.statSync(sock).mode & 0o777, 0o600);
  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await zt.client.snapshotApplied();
  await until(() => server.connected, 'server.connected');

  const netns = Netns.open('/proc/self/ns/net');
  await server.addWorkload(pod('u1'), netns);
  t.is(zt.added.length, 1);
  t.deepEqual(zt.added[0]!.info, pod('u1'));
  t.is(zt.added[0]!.inode, selfNetnsInode());
  t.not(zt.added[0]!.fd, netns.fd);
  t.false(netns.closed, 'the caller keeps its Netns');
  t.deepEqual(zt.client.pods().map((p) => p.uid), ['u1']);
  t.true(zt.log.lines.some((l) => l.startsWith('info pod received, starting proxy uid=u1 name=pod-u1 namespace=ns1')));

  await server.removeWorkload('u1');
  t.deepEqual(zt.removed, ['u1']);
  t.deepEqual(zt.client.pods(), []);
  t.true(zt.log.lines.some((l) => l.startsWith('info pod delete request, draining proxy uid=u1')));
  netns.close();
  await zt.client.stop();
  await server.stop();
  t.false(fs.existsSync(sock), 'stop removes the socket file');
});

test('a failing hook is a nack: addWorkload rejects with ztunnel’s message', async (t) => {
  const sock = tempSocket();
  const server = serverFor(t, sock);
  await server.start();
  const zt = fakeZtunnel(t, sock, { fail: 'ztunnel is draining' });
  await zt.client.start();
  await zt.client.snapshotApplied();
  const netns = Netns.open('/proc/self/ns/net');
  await t.throwsAsync(server.addWorkload(pod('u1'), netns), { message: /ztunnel rejected pod uid=u1 name=pod-u1 namespace=ns1: ztunnel is draining/ });
  t.deepEqual(zt.client.pods(), []);
  netns.close();
  await zt.client.stop();
  await server.stop();
});

test('an fd that is not a network namespace is refused by ztunnel (ioctl check), nothing crashes', async (t) => {
  const sock = tempSocket();
  const server = serverFor(t, sock);
  await server.start();
  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await zt.client.snapshotApplied();
  const file = path.join(path.dirname(sock), 'plain');
  fs.writeFileSync(file, 'x');
  const fd = fs.openSync(file, 'r');
  await t.throwsAsync(server.addWorkload(pod('u2'), { fd } as Netns), { message: /zds:u2 \(fd \d+\) is not a network namespace/ });
  t.is(zt.added.length, 0);
  t.true(zt.log.lines.some((l) => /^warn dropping an add: .*not a network namespace/.test(l)));
  // Still working afterwards.
  const netns = Netns.open('/proc/self/ns/net');
  await server.addWorkload(pod('u3'), netns);
  t.is(zt.added.length, 1);
  fs.closeSync(fd);
  netns.close();
  await zt.client.stop();
  await server.stop();
});

test('without a ztunnel, addWorkload rejects ZdsNotConnectedError and the pod is in the next snapshot', async (t) => {
  const sock = tempSocket();
  const server = serverFor(t, sock);
  await server.start();
  const netns = Netns.open('/proc/self/ns/net');
  const err = await t.throwsAsync(server.addWorkload(pod('u1'), netns));
  t.true(err instanceof ZdsNotConnectedError);
  t.false(server.connected);
  netns.close(); // the server kept its own dup
  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await zt.client.snapshotApplied();
  t.deepEqual(zt.added.map((a) => a.info.uid), ['u1']);
  t.is(zt.added[0]!.inode, selfNetnsInode());
  await until(() => server.connected, 'server.connected');
  t.true(zt.log.lines.includes('info pod received snapshot sent pods=1'));
  await zt.client.stop();
  await server.stop();
});

test('the client waits for the agent, survives its restart, keeps its pods, and drops those missing from the new snapshot', async (t) => {
  const sock = tempSocket();
  const zt = fakeZtunnel(t, sock);
  const starting = zt.client.start(); // no agent yet: retries
  await until(() => zt.log.lines.some((l) => l.startsWith('warn node agent not reachable')), 'the unreachable log line');

  const a = Netns.open('/proc/self/ns/net');
  const server1 = serverFor(t, sock);
  await server1.start();
  await starting;
  await zt.client.snapshotApplied();
  await server1.addWorkload(pod('keep'), a);
  await server1.addWorkload(pod('gone'), a);
  t.deepEqual(zt.added.map((x) => x.info.uid), ['keep', 'gone']);

  await server1.stop(); // the agent restarts
  await until(() => zt.log.lines.some((l) => l.startsWith('warn lost the node agent connection')), 'the lost-connection log line');
  t.deepEqual(zt.removed, [], 'pods keep being served while the agent is away');
  t.is(zt.client.pods().length, 2);

  const server2 = serverFor(t, sock);
  await server2.start();
  await t.throwsAsync(server2.addWorkload(pod('keep'), a), { instanceOf: ZdsNotConnectedError });
  await until(() => server2.connected, 'the reconnect and its snapshot');
  t.deepEqual(zt.removed, ['gone'], 'the pod the new agent does not know is drained');
  t.deepEqual(zt.added.map((x) => x.info.uid), ['keep', 'gone'], 'the pod it still has is not restarted');
  t.deepEqual(zt.client.pods().map((p) => p.uid), ['keep']);
  a.close();
  await zt.client.stop();
  t.deepEqual(zt.removed, ['gone', 'keep'], 'stop removes what is left');
  await server2.stop();
});

test('two ztunnels (rollout): new adds go to the newest, the old one keeps its pods, deletes reach both', async (t) => {
  const sock = tempSocket();
  const server = serverFor(t, sock);
  await server.start();
  const netns = Netns.open('/proc/self/ns/net');
  const old = fakeZtunnel(t, sock);
  await old.client.start();
  await old.client.snapshotApplied();
  await server.addWorkload(pod('p1'), netns);

  const fresh = fakeZtunnel(t, sock);
  await fresh.client.start();
  await fresh.client.snapshotApplied();
  t.deepEqual(fresh.added.map((x) => x.info.uid), ['p1'], 'the newcomer gets the snapshot');
  await server.addWorkload(pod('p2'), netns);
  t.deepEqual(old.added.map((x) => x.info.uid), ['p1']);
  t.deepEqual(fresh.added.map((x) => x.info.uid), ['p1', 'p2']);

  await server.removeWorkload('p1');
  t.deepEqual(old.removed, ['p1']);
  t.deepEqual(fresh.removed, ['p1']);

  await fresh.client.stop(); // the newest leaves: adds go to the one still there
  await until(() => server.ztunnels === 1, 'the server to see the disconnect');
  await server.addWorkload(pod('p3'), netns);
  t.deepEqual(old.added.map((x) => x.info.uid), ['p1', 'p3']);
  netns.close();
  await old.client.stop();
  await server.stop();
});

/** A hand-made agent end, to send what a real ZdsServer never would. */
async function rawAgent(t: ExecutionContext, sock: string) {
  fs.mkdirSync(path.dirname(sock), { recursive: true });
  const poller = Poller.shared;
  const frames: Frame[] = [];
  let conn: SeqpacketConnection | undefined;
  const lfd = listenSeqpacket(sock, 4, () => undefined);
  poller.watch(lfd, () => {
    const fd = acceptSeqpacket(lfd);
    if (fd >= 0) conn = new SeqpacketConnection(fd, poller, { onFrame: (f) => frames.push(f), onClose: () => undefined });
  });
  t.teardown(() => {
    conn?.close();
    if (poller.watching > 0) poller.unwatchAndClose(lfd);
  });
  return {
    frames,
    acks: () => frames.map((f) => JSON.parse(f.data.toString()) as { type: string; error?: string }).filter((m) => m.type === 'ack'),
    connected: () => conn !== undefined,
    send: (data: string | Buffer, fds: number[] = []) => conn!.send(Buffer.from(data), fds),
    close() {
      conn?.close();
      poller.unwatchAndClose(lfd);
    },
  };
}

test('malformed, oversized and fd-less messages from the agent are nacked with a log line; the client goes on', async (t) => {
  const sock = tempSocket();
  const agent = await rawAgent(t, sock);
  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await until(() => agent.frames.length === 1, 'hello');
  t.deepEqual(JSON.parse(agent.frames[0]!.data.toString()), { type: 'hello', version: 1 });

  const netnsFd = fs.openSync('/proc/self/ns/net', 'r');
  agent.send('not json');
  agent.send('{"type":"bogus"}');
  agent.send(Buffer.alloc(MAX_MESSAGE_BYTES + 100, 0x20));
  agent.send(JSON.stringify({ type: 'add', uid: 'x', workload: { name: 'n', namespace: 'ns' } }), [netnsFd]);
  agent.send(JSON.stringify({ type: 'add', uid: 'x', workload: { name: 'n', namespace: 'ns', serviceAccount: 'sa', ip: '10.0.0.1' } }));
  agent.send(JSON.stringify({ type: 'add', uid: 'ok', workload: { name: 'n', namespace: 'ns', serviceAccount: 'sa', ip: '10.0.0.1' } }), [netnsFd, netnsFd]);
  await until(() => agent.acks().length === 6, 'six acks');
  t.deepEqual(
    agent.acks().map((a) => a.error),
    [
      'malformed message: message is not JSON',
      'malformed message: unknown message type "bogus" (expected add, del or snapshotSent)',
      'message over the size limit',
      'malformed message: add.workload: "serviceAccount" must be a non-empty string',
      'add carries no netns fd',
      undefined,
    ],
  );
  t.true(zt.log.lines.includes('warn dropping a malformed node agent message: message is not JSON'));
  t.true(zt.log.lines.some((l) => l.startsWith('warn dropping a node agent message over the size limit')));
  t.deepEqual(zt.added.map((a) => a.info.uid), ['ok']);
  fs.closeSync(netnsFd);
  agent.close();
  await zt.client.stop();
});

test('bad messages from a ztunnel are dropped with a log line; a wrong version is disconnected; the server goes on', async (t) => {
  const sock = tempSocket();
  const log = captureLog();
  const server = serverFor(t, sock, log);
  await server.start();
  const poller = Poller.shared;
  const closed: (string | undefined)[] = [];
  const conns: SeqpacketConnection[] = [];
  t.teardown(() => conns.forEach((c) => c.close()));
  const open = () => {
    const c = new SeqpacketConnection(connectSeqpacket(sock), poller, { onFrame: () => undefined, onClose: (r) => closed.push(r) });
    conns.push(c);
    return c;
  };
  const c1 = open();
  c1.send(Buffer.from('{"type":'));
  c1.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x41));
  c1.send(Buffer.from('{"type":"ack"}'));
  await until(() => log.lines.filter((l) => l.startsWith('warn')).length === 3, 'three warnings');
  t.true(log.lines.some((l) => l.startsWith('warn dropping a malformed ztunnel message: message is not JSON')));
  t.true(log.lines.some((l) => l.startsWith('warn dropping a ztunnel message over the size limit')));
  t.true(log.lines.some((l) => l.startsWith('warn dropping an ack with no request outstanding')));
  const c2 = open();
  c2.send(Buffer.from('{"type":"hello","version":99}'));
  await until(() => closed.length === 1, 'the server to close the wrong version');
  t.true(log.lines.some((l) => l.startsWith('error ztunnel speaks ZDS version 99, this agent only 1; closing the connection')));

  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await zt.client.snapshotApplied();
  const netns = Netns.open('/proc/self/ns/net');
  await server.addWorkload(pod('u1'), netns);
  t.is(zt.added.length, 1);
  netns.close();
  c1.close();
  await zt.client.stop();
  await server.stop();
});

test('the event loop runs while a connection idles (poll is on the thread pool)', async (t) => {
  const sock = tempSocket();
  const server = serverFor(t, sock);
  await server.start();
  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await zt.client.snapshotApplied();
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const iv = setInterval(() => {
      if (++ticks === 5) {
        clearInterval(iv);
        resolve();
      }
    }, 5);
  });
  t.is(ticks, 5);
  await zt.client.stop();
  await server.stop();
});

test('start refuses a path that is not a socket and replaces a stale socket file', async (t) => {
  const sock = tempSocket();
  fs.writeFileSync(sock, 'not a socket');
  const server = serverFor(t, sock);
  await t.throwsAsync(server.start(), { message: `ZDS socket path ${sock} exists and is not a socket; remove it or choose another ZDS_SOCKET` });
  fs.unlinkSync(sock);
  const poller = Poller.shared;
  const stale = listenSeqpacket(sock, 1, () => undefined);
  poller.unwatchAndClose(stale); // closed without unlink: a stale socket file stays behind
  t.true(fs.statSync(sock).isSocket());
  await server.start();
  const zt = fakeZtunnel(t, sock);
  await zt.client.start();
  await zt.client.snapshotApplied();
  t.pass();
  await zt.client.stop();
  await server.stop();
  const long = new ZdsServer({ socketPath: '/tmp/' + 'x'.repeat(120), log: captureLog() });
  await t.throwsAsync(long.start(), { message: /must be 1-107 bytes/ });
});

test('a ztunnel that does not ack in time is disconnected; it reconnects and the snapshot brings the pod back', async (t) => {
  const sock = tempSocket();
  const log = captureLog();
  const server = new ZdsServer({ socketPath: sock, log, ackTimeoutMs: 200 });
  t.teardown(() => server.stop());
  await server.start();
  let release!: () => void;
  const stuck = new Promise<void>((r) => (release = r));
  const added: string[] = [];
  const client = new ZdsClient({
    socketPath: sock,
    log: captureLog(),
    retryMs: 20,
    hooks: {
      async onPodAdded(info) {
        if (added.length === 0) await stuck; // the first add hangs (a CA that does not answer, say)
        added.push(info.uid);
      },
      async onPodRemoved() {},
    },
  });
  t.teardown(() => client.stop());
  await client.start();
  await client.snapshotApplied();
  const netns = Netns.open('/proc/self/ns/net');
  t.teardown(() => netns.close());
  await t.throwsAsync(server.addWorkload(pod('slow'), netns), { instanceOf: ZdsNotConnectedError, message: 'ztunnel did not acknowledge add within 200ms; disconnected it' });
  t.true(log.lines.some((l) => l.startsWith('warn ztunnel did not acknowledge add within 200ms; disconnected it')));
  release();
  await until(() => server.connected, 'the reconnect and its snapshot');
  t.deepEqual(added, ['slow'], 'served once: the replay of the same netns does not restart it');
  t.deepEqual(client.pods().map((p) => p.uid), ['slow']);
});
