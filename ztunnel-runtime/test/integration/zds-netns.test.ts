// ZDS with a real network namespace (root, no cluster): the agent side opens the pod's netns and adds it, ztunnel's
// side receives only the fd and brings the in-pod listeners up inside that namespace; removing the pod takes them
// down. Once with bare PodProxyListeners as the hook, once with the whole shared-mode NodeProxy.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { createRootCA, LocalCA, setLogSink } from '@ambit/mesh-api';
import { Netns, PodProxyListeners } from '../../src/inpod/index.js';
import { NodeProxy, parseSharedConfig } from '../../src/node/index.js';
import { ZdsClient, ZdsServer, type WorkloadInfo } from '../../src/zds/index.js';

const exec = promisify(execFile);

/** A netns `zdst<hex>` that the test's teardown deletes. */
async function podNetns(t: ExecutionContext): Promise<{ name: string; path: string }> {
  const name = `zdst${randomBytes(3).toString('hex')}`;
  await exec('ip', ['netns', 'add', name]);
  t.teardown(() => exec('ip', ['netns', 'delete', name]).then(() => undefined, () => undefined));
  return { name, path: `/var/run/netns/${name}` };
}

/** TCP ports listening inside the netns, from `ss` run in it. */
async function listening(ns: string): Promise<number[]> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, 'ss', '-Hltn']);
  return stdout
    .split('\n')
    .map((l) => /:(\d+)$/.exec(l.trim().split(/\s+/)[3] ?? '')?.[1]) // State Recv-Q Send-Q Local:Port Peer
    .filter((p): p is string => p !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

function tempSocket(t: ExecutionContext, server: ZdsServer[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zds-it-'));
  t.teardown(async () => {
    for (const s of server) await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return path.join(dir, 'ztunnel.sock');
}

const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

test.serial('a pod netns handed over ZDS gets the in-pod listeners inside it; removing the pod closes them', async (t) => {
  const ns = await podNetns(t);
  const servers: ZdsServer[] = [];
  const sock = tempSocket(t, servers);
  const server = new ZdsServer({ socketPath: sock, log: quiet });
  servers.push(server);
  await server.start();

  const listeners = new Map<string, PodProxyListeners>();
  const inodes: number[] = [];
  const client = new ZdsClient({
    socketPath: sock,
    log: quiet,
    hooks: {
      async onPodAdded(info, netns) {
        const l = await PodProxyListeners.start(netns, { onOutbound: (c) => c.socket.destroy(), onInbound: (c) => c.socket.destroy(), onHboneSocket: (s) => s.destroy() });
        listeners.set(info.uid, l);
        inodes.push(netns.inode);
      },
      async onPodRemoved(uid) {
        await listeners.get(uid)?.close({ drainMs: 0 });
        listeners.delete(uid);
      },
    },
  });
  t.teardown(() => client.stop());
  await client.start();
  await client.snapshotApplied();

  t.deepEqual(await listening(ns.name), []);
  const agentSide = Netns.open(ns.path);
  const info: WorkloadInfo = { uid: 'uid-1', name: 'sleep', namespace: 'default', serviceAccount: 'sleep', ip: '10.248.9.2' };
  await server.addWorkload(info, agentSide);
  agentSide.close();
  t.deepEqual(await listening(ns.name), [15001, 15006, 15008]);
  t.deepEqual(inodes, [fs.statSync(ns.path).ino], 'the fd ztunnel got is that namespace');
  t.not(inodes[0], fs.statSync('/proc/self/ns/net').ino);

  await server.removeWorkload('uid-1');
  t.deepEqual(await listening(ns.name), []);
});

test.serial('NodeProxy serves a pod the agent adds and stops it on removal', async (t) => {
  const ns = await podNetns(t);
  const servers: ZdsServer[] = [];
  const sock = tempSocket(t, servers);
  const server = new ZdsServer({ socketPath: sock, log: quiet });
  servers.push(server);
  await server.start();
  const lines: string[] = [];
  const prev = setLogSink((l) => lines.push(l));
  t.teardown(() => void setLogSink(prev));
  const mesh = path.join(path.dirname(sock), 'mesh.yaml');
  fs.writeFileSync(mesh, 'workloads: []\n');
  const config = parseSharedConfig({
    NODE_NAME: 'node-1',
    ZDS_SOCKET: sock,
    LOCAL_XDS_PATH: mesh,
    ADMIN_ADDR: 'off',
    READINESS_ADDR: 'off',
    STATS_ADDR: 'off',
    DRAIN_DEADLINE_MS: '0',
  });
  config.localXdsPath = mesh;
  const proxy = new NodeProxy({ config, certificateSource: new LocalCA(createRootCA()) });
  t.teardown(() => proxy.stop());
  await proxy.start();
  t.true(proxy.ready);

  const agentSide = Netns.open(ns.path);
  await server.addWorkload({ uid: 'uid-2', name: 'httpbin', namespace: 'default', serviceAccount: 'httpbin', ip: '10.248.9.3' }, agentSide);
  agentSide.close();
  t.deepEqual(await listening(ns.name), [15001, 15006, 15008]);
  const served = proxy.proxies.get('uid-2');
  t.truthy(served);
  t.is(served!.identity, 'spiffe://cluster.local/ns/default/sa/httpbin');
  t.is(served!.netns.inode, fs.statSync(ns.path).ino);
  t.true(lines.some((l) => l.includes('proxy started') && l.includes('uid=uid-2 name=httpbin namespace=default')));

  await server.removeWorkload('uid-2');
  t.deepEqual(await listening(ns.name), []);
  t.is(proxy.proxies.size, 0);
});
