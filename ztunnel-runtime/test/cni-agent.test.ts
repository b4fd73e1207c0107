// The node agent's pod logic behind the plugin socket, with every side effect faked and recorded in order: ZDS
// (addWorkload before the rules; partial add without ztunnel; ztunnel's refusal fails the ADD), rules, annotation,
// probe SNAT; DEL; restart vs uninstall. Plus the event server over a real Unix socket.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { CniAgent, PluginEventServer, detectHostIptables, type PluginEvent, type ProbeSnat, type WorkloadSink } from '../src/cni/index.js';
import type { NamespaceLike, Netns, PodLike } from '../src/inpod/index.js';
import { ZdsNotConnectedError } from '../src/zds/index.js';


const UID = '1b2c3d4e-aaaa-4bbb-8ccc-0123456789ab';
const pod = (labels: Record<string, string> = {}, uid = UID): PodLike => ({
  metadata: { uid, name: 'p1', namespace: 'ns1', labels, annotations: {} },
  spec: { nodeName: 'node-1', serviceAccountName: 'sa1' } as PodLike['spec'],
  status: { phase: 'Pending' },
});
const ns = (labels: Record<string, string> = {}): NamespaceLike => ({ metadata: { name: 'ns1', labels } });
const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };
const event = (over: Partial<PluginEvent> = {}): PluginEvent => ({
  podName: 'p1',
  podNamespace: 'ns1',
  podUid: UID,
  netns: '/var/run/netns/cni-1111',
  containerId: 'c1',
  ifname: 'eth0',
  ips: ['10.244.1.5'],
  ...over,
});

function harness(
  opts: { pod?: PodLike; ns?: NamespaceLike; connected?: boolean; zdsError?: Error; rulesError?: Error; inode?: (p: string) => number | undefined; resolver?: () => string | undefined } = {},
) {
  const events: string[] = [];
  const lines: string[] = [];
  let connected = opts.connected ?? true;
  const zds: WorkloadSink = {
    get connected() {
      return connected;
    },
    addWorkload: async (info, netns) => {
      if (opts.zdsError) throw opts.zdsError;
      events.push(`zds+ ${info.uid} ${info.name} ${info.namespace} ${info.serviceAccount} ${info.ip} ${netns.path}`);
      if (!connected) throw new ZdsNotConnectedError('no ztunnel connected');
    },
    removeWorkload: async (uid) => {
      events.push(`zds- ${uid}`);
      if (!connected) throw new ZdsNotConnectedError('no ztunnel connected');
    },
  };
  const snat = {
    start: async () => void events.push('snat start'),
    add: async (_uid: string, ip: string) => void events.push(`snat+ ${ip}`),
    remove: async (_uid: string, ip: string) => void events.push(`snat- ${ip}`),
    prune: async (keep: string[]) => void events.push(`snat prune keep=${keep.join(',')}`),
    cleanup: async () => void events.push('snat cleanup'),
  } as unknown as ProbeSnat;
  const agent = new CniAgent({
    nodeName: 'node-1',
    zds,
    probeSnat: snat,
    retryMs: 60_000,
    reader: { pod: async () => opts.pod ?? pod(AMBIENT), namespace: async () => opts.ns ?? ns() },
    netnsResolver: opts.resolver ?? (() => undefined),
    log: { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => undefined },
    dataplane: {
      exists: (p) => p.startsWith('/var/run/netns/cni-') || p.startsWith('/proc/'),
      ...(opts.inode ? { inode: opts.inode } : {}),
      open: (p) => ({ path: p, inode: opts.inode?.(p) ?? 1, close: () => events.push(`close ${p}`) }) as unknown as Netns,
      applyRules: async (p) => {
        if (opts.rulesError) throw opts.rulesError;
        events.push(`rules+ ${p}`);
      },
      removeRules: async (p) => void events.push(`rules- ${p}`),
    },
    annotate: async (namespace, name, value) => void events.push(`annotate ${namespace}/${name} ${value}`),
  });
  return { agent, events, lines, setConnected: (c: boolean) => (connected = c) };
}

test('ADD of an ambient pod: ztunnel gets it first, then the rules, probe SNAT, annotation; answer enrolled', async (t) => {
  const h = harness({ pod: pod(), ns: ns(AMBIENT) });
  t.deepEqual(await h.agent.handleAdd(event()), { enrolled: true, reason: 'namespace-label' });
  t.deepEqual(h.events, [
    `zds+ ${UID} p1 ns1 sa1 10.244.1.5 /var/run/netns/cni-1111`,
    'snat+ 10.244.1.5',
    'rules+ /var/run/netns/cni-1111',
    'annotate ns1/p1 enabled',
  ]);
  t.deepEqual(h.agent.nodeAgent.enrolled().map((p) => p.netnsPath), ['/var/run/netns/cni-1111']);
  // The plugin retries the same ADD: nothing is done twice.
  h.events.length = 0;
  t.is((await h.agent.handleAdd(event())).enrolled, true);
  t.deepEqual(h.events, []);
});

test('ADD without a connected ztunnel: rules anyway (fail closed), ADD succeeds as a partial add', async (t) => {
  const h = harness({ connected: false });
  t.deepEqual(await h.agent.handleAdd(event()), { enrolled: true, reason: 'partial' });
  t.deepEqual(h.events.map((e) => e.split(' ')[0]), ['zds+', 'snat+', 'rules+', 'annotate']);
  t.true(h.lines.some((l) => l.startsWith('no ztunnel connected; pod redirected, ztunnel gets it when it connects')));
});

test('ADD that ztunnel refuses, or whose rules fail: the ADD fails with the reason; nothing is left half-done', async (t) => {
  const a = harness({ zdsError: new Error('netns fd is not a network namespace') });
  await t.throwsAsync(a.agent.handleAdd(event()), { message: 'ztunnel refused the pod: netns fd is not a network namespace' });
  t.deepEqual(a.events, ['close /var/run/netns/cni-1111'], 'no rules, no annotation');
  const b = harness({ rulesError: new Error('iptables-restore exited 1: bad rule') });
  await t.throwsAsync(b.agent.handleAdd(event()), { message: 'iptables-restore exited 1: bad rule' });
  t.deepEqual(b.events, [`zds+ ${UID} p1 ns1 sa1 10.244.1.5 /var/run/netns/cni-1111`, 'snat+ 10.244.1.5', 'rules- /var/run/netns/cni-1111', 'snat- 10.244.1.5', `zds- ${UID}`, 'close /var/run/netns/cni-1111']);
  t.deepEqual(b.agent.nodeAgent.enrolled(), []);
  await b.agent.stop();
});

test('ADD whose CNI_NETNS the agent cannot see: fails saying which mount is missing', async (t) => {
  const h = harness();
  await t.throwsAsync(h.agent.handleAdd(event({ netns: '/run/containerd/state/netns/cni-9' })), {
    message: 'netns /run/containerd/state/netns/cni-9 not found in the agent: mount the host dir the runtime creates pod netns in (/var/run/netns) into the agent with mountPropagation HostToContainer',
  });
  t.deepEqual(h.events, []);
  await h.agent.stop();
});

test('ADD of a pod not in ambient, of a replaced pod, of an unknown pod: answered, nothing done', async (t) => {
  const a = harness({ pod: pod() });
  t.deepEqual(await a.agent.handleAdd(event()), { enrolled: false, reason: 'not-selected' });
  const b = harness({ pod: pod(AMBIENT, '99999999-aaaa-4bbb-8ccc-0123456789ab') });
  t.deepEqual(await b.agent.handleAdd(event()), { enrolled: false, reason: 'pod-replaced' });
  for (const h of [a, b]) t.deepEqual(h.events, []);
});

test('a new sandbox for the same pod (new CNI_NETNS): the proxy moves to the new netns', async (t) => {
  const h = harness();
  await h.agent.handleAdd(event());
  h.events.length = 0;
  t.true((await h.agent.handleAdd(event({ netns: '/var/run/netns/cni-2222', ips: ['10.244.1.9'] }))).enrolled);
  t.deepEqual(h.events, [
    'snat- 10.244.1.5',
    `zds- ${UID}`,
    'close /var/run/netns/cni-1111',
    `zds+ ${UID} p1 ns1 sa1 10.244.1.9 /var/run/netns/cni-2222`,
    'snat+ 10.244.1.9',
    'rules+ /var/run/netns/cni-2222',
    'annotate ns1/p1 enabled',
  ]);
});

test('an ADD for the netns a running pod was already found in (via /proc) changes nothing', async (t) => {
  const inodes: Record<string, number> = { '/proc/42/ns/net': 7, '/var/run/netns/cni-1111': 7, '/var/run/netns/cni-2222': 8 };
  const h = harness({ inode: (p) => inodes[p], resolver: () => '/proc/42/ns/net' });
  h.agent.nodeAgent.namespaceUpserted(ns());
  h.agent.nodeAgent.podUpserted({ ...pod(AMBIENT), status: { phase: 'Running', podIP: '10.244.1.5' } });
  await h.agent.nodeAgent.whenIdle();
  t.deepEqual(h.agent.nodeAgent.enrolled().map((p) => p.netnsPath), ['/proc/42/ns/net']);
  h.events.length = 0;
  t.deepEqual(await h.agent.handleAdd(event()), { enrolled: true, reason: 'pod-label' });
  t.deepEqual(h.events, [], 'same namespace: ztunnel is not asked to drop and re-add the pod');
  t.true((await h.agent.handleAdd(event({ netns: '/var/run/netns/cni-2222' }))).enrolled);
  t.is(h.events[0], 'snat- 10.244.1.5', 'another namespace: the proxy moves');
});

test('DEL: the sandbox’s proxy stops (ztunnel told, probe rule removed); a DEL for another sandbox changes nothing', async (t) => {
  const h = harness();
  await h.agent.handleAdd(event());
  h.events.length = 0;
  await h.agent.handleDel(event({ netns: '/var/run/netns/cni-other' }));
  t.deepEqual(h.events, []);
  await h.agent.handleDel(event({ ips: [] }));
  t.deepEqual(h.events, ['snat- 10.244.1.5', `zds- ${UID}`, 'close /var/run/netns/cni-1111']);
  t.true(h.lines.includes(`pod sandbox deleted, stopping proxy uid=${UID} name=p1 namespace=ns1`));
});

test('stop(): a restart leaves ztunnel, rules and probe rules alone; uninstall removes them all', async (t) => {
  const a = harness();
  await a.agent.handleAdd(event());
  a.events.length = 0;
  await a.agent.stop();
  t.deepEqual(a.events, ['close /var/run/netns/cni-1111']);
  const b = harness();
  await b.agent.handleAdd(event());
  b.events.length = 0;
  await b.agent.stop({ uninstall: true });
  t.deepEqual(b.events, ['rules- /var/run/netns/cni-1111', 'annotate ns1/p1 null', 'snat- 10.244.1.5', `zds- ${UID}`, 'close /var/run/netns/cni-1111', 'snat cleanup']);
});

async function post(sock: string, p: string, body: string, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: p, method }, (res) => {
      let d = '';
      res.on('data', (c) => (d += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: d }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('event server: 200 with the answer, 500 with a one-line reason, 400 for bad events; socket is 0600', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambit-evsrv-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'sub', 'pluginevent.sock');
  fs.mkdirSync(path.dirname(sock));
  fs.writeFileSync(sock, 'stale');
  const dels: string[] = [];
  const lines: string[] = [];
  const server = new PluginEventServer({
    socketPath: sock,
    log: { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: () => undefined, debug: () => undefined },
    handlers: {
      onAdd: async (ev) => {
        if (ev.podName === 'bad') throw new Error('iptables-restore exited 1: boom\nsecond line');
        return { enrolled: true, reason: 'pod-label' };
      },
      onDel: async (ev) => {
        dels.push(ev.podName);
        throw new Error('ignored');
      },
    },
  });
  await server.start();
  t.teardown(() => server.stop());
  t.is(fs.statSync(sock).mode & 0o777, 0o600);
  t.deepEqual(await post(sock, '/cmdadd', JSON.stringify(event())), { status: 200, body: '{"enrolled":true,"reason":"pod-label"}' });
  t.deepEqual(await post(sock, '/cmdadd', JSON.stringify(event({ podName: 'bad' }))), { status: 500, body: 'iptables-restore exited 1: boom\n' });
  t.true(lines.includes('failed to add pod to mesh name=bad namespace=ns1 netns=/var/run/netns/cni-1111: iptables-restore exited 1: boom'));
  t.deepEqual(await post(sock, '/cmdadd', '{nope'), { status: 400, body: 'bad event: the event is not valid JSON\n' });
  t.deepEqual(await post(sock, '/cmdadd', JSON.stringify({ ...event(), netns: '' })), { status: 400, body: 'bad event: "netns" is empty\n' });
  t.deepEqual(await post(sock, '/cmdadd', JSON.stringify({ ...event(), ips: 'x' })), { status: 400, body: 'bad event: "ips" must be an array of strings\n' });
  t.deepEqual(await post(sock, '/cmdadd', 'x'.repeat(70 * 1024)), { status: 413, body: 'event larger than 65536 bytes\n' });
  t.is((await post(sock, '/cmdadd', '', 'GET')).status, 405);
  t.is((await post(sock, '/other', '')).status, 404);
  t.deepEqual(await post(sock, '/cmddel', JSON.stringify({ ...event(), netns: '' })), { status: 200, body: '{}' });
  t.deepEqual(dels, ['p1']);
  await server.stop();
  t.false(fs.existsSync(sock), 'socket removed on stop');
});

test('host iptables backend: the one holding more rules (kube-proxy’s), as Istio picks it', async (t) => {
  const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
  const fake = (legacy: string | null, nft: string | null) => {
    const calls: string[] = [];
    const exec = async (cmd: string, args: string[]) => {
      calls.push([cmd, ...args].join(' '));
      const out = cmd === 'iptables-legacy-save' ? legacy : cmd === 'iptables-nft-save' ? nft : '';
      if (out === null) throw Object.assign(new Error('spawn ENOENT'), { code: 'ENOENT' });
      return { code: 0, stdout: out, stderr: '' };
    };
    return { exec, calls };
  };
  const kubeRules = '*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\nCOMMIT\n';
  const legacyHost = fake(kubeRules, '# Warning: iptables-legacy tables present\n');
  const a = await detectHostIptables(legacyHost.exec, quiet);
  t.is(a.binary, 'iptables-legacy');
  await a.runner(['-t', 'nat', '-S']);
  t.is(legacyHost.calls.at(-1), 'iptables-legacy -w -t nat -S');
  t.is((await detectHostIptables(fake('', kubeRules).exec, quiet)).binary, 'iptables-nft');
  t.is((await detectHostIptables(fake('', '').exec, quiet)).binary, 'iptables-nft', 'no rules anywhere: nft (the default)');
  t.is((await detectHostIptables(fake(null, null).exec, quiet)).binary, 'iptables', 'neither tool installed');
});
