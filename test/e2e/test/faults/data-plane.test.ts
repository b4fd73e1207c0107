// The fault suite, data plane: a ztunnel restarted under a long-lived connection and a waypoint rolled under load.
// Each test states its promise in its title and checks it with what the client pods record. Root; the shared
// cluster (AMBIT_KUBECONFIG).
import test from 'ava';
import { MeshFixture, serverManifest } from '@ambit/cluster';
import { describeFailures, proberManifest, probes, sleepMs } from './prober.js';

const ns = MeshFixture.namespace('faults-dp');
let f: MeshFixture;

/** A line-echo TCP server (Service `echo`, port 9000) and a client that keeps one connection open, sending a line
 * every 0.5 s and logging `<epoch s> <connection #> echo|closed|connected`; it reconnects when the connection ends. */
const echoManifest = () => {
  const server = [
    'import socketserver',
    'class H(socketserver.StreamRequestHandler):',
    '    def handle(self):',
    '        for line in self.rfile:',
    '            self.wfile.write(line)',
    'socketserver.ThreadingTCPServer.allow_reuse_address = True',
    "socketserver.ThreadingTCPServer(('', 9000), H).serve_forever()",
  ].join('\n');
  const client = [
    'import socket, time, sys',
    'n = 0',
    'while True:',
    '    try:',
    "        s = socket.create_connection(('echo', 9000), timeout=5)",
    '    except OSError as e:',
    "        print(f'{time.time():.2f} {n} refused {e}', flush=True); time.sleep(0.5); continue",
    '    n += 1',
    "    print(f'{time.time():.2f} {n} connected', flush=True)",
    "    f = s.makefile('rb')",
    '    try:',
    '        while True:',
    "            s.sendall(b'ping\\n')",
    '            if f.readline() != b"ping\\n": raise OSError("closed")',
    "            print(f'{time.time():.2f} {n} echo', flush=True)",
    '            time.sleep(0.5)',
    '    except OSError as e:',
    "        print(f'{time.time():.2f} {n} closed {e}', flush=True)",
    '        s.close()',
  ].join('\n');
  return (
    serverManifest({ name: 'echo', node: 'ambit-node-1', port: 9000, service: { port: 9000, name: 'tcp-echo' }, command: ['python3', '-u', '-c', server] }) +
    '---' +
    serverManifest({ name: 'holder', node: 'ambit-node-2', port: false, command: ['python3', '-u', '-c', client] })
  );
};

interface HolderLine {
  at: number;
  conn: number;
  what: string;
}

async function holderLog(): Promise<HolderLine[]> {
  const out = await f.must(['logs', '-n', ns, 'deploy/holder', '--tail=-1']);
  return out
    .split('\n')
    .map((l) => /^(\d+\.\d+) (\d+) (\w+)/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]) * 1000, conn: Number(m[2]), what: m[3]! }));
}

/** When each ztunnel pod that existed at `names` got its SIGTERM: deletionTimestamp less the grace period. */
async function sigtermTimes(names: string[]): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  const list = JSON.parse(await f.must(['get', 'pods', '-n', 'istio-system', '-l', 'app=ztunnel', '-o', 'json'])) as {
    items: { metadata: { name: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number } }[];
  };
  for (const p of list.items) {
    if (names.includes(p.metadata.name) && p.metadata.deletionTimestamp) {
      seen.set(p.metadata.name, new Date(p.metadata.deletionTimestamp).getTime() - (p.metadata.deletionGracePeriodSeconds ?? 30) * 1000);
    }
  }
  return seen;
}

test.before(async () => {
  f = await MeshFixture.open(ns);
  await f.must(['label', 'namespace', ns, 'istio.io/dataplane-mode=ambient']);
  await f.must(['apply', '-n', ns, '-f', '-'], echoManifest());
  await f.must(['apply', '-n', ns, '-f', '-'], serverManifest({ node: 'ambit-node-1' }));
  await f.must(['wait', '-n', ns, '--for=condition=Available', 'deployment', '--all', '--timeout=180s']);
  await f.eventually('every pod enrolled', async () => (await f.redirected()).every(Boolean), 120_000);
});

test.after.always(async () => {
  await f?.close();
});

test.serial('ztunnel restarted under a long-lived connection: it keeps flowing through the old ztunnel\'s drain (grace 30 s less 5 s), then ends, and the client reconnects at once', async (t) => {
  // A fresh connection opened inside the mesh (the holder may have connected before enrolment: restart it).
  await f.must(['rollout', 'restart', '-n', ns, 'deployment/holder']);
  await f.must(['rollout', 'status', '-n', ns, 'deployment/holder', '--timeout=120s']);
  const conn = await f.eventually('the holder echoing on its connection', async () => {
    const log = await holderLog();
    const last = log.at(-1);
    return last?.what === 'echo' && log.filter((l) => l.conn === last.conn && l.what === 'echo').length >= 4 ? last.conn : undefined;
  }, 60_000);
  const old = (await f.ztunnelPods()).map((p) => p.name);
  await f.must(['rollout', 'restart', '-n', 'istio-system', 'daemonset/ztunnel']);
  // Record when each old ztunnel got SIGTERM while the rollout runs.
  const terms = new Map<string, number>();
  const rollout = f.must(['rollout', 'status', '-n', 'istio-system', 'daemonset/ztunnel', '--timeout=240s']);
  let done = false;
  void rollout.finally(() => (done = true)).catch(() => undefined);
  while (!done || terms.size < old.length) {
    for (const [k, v] of await sigtermTimes(old)) if (!terms.has(k)) terms.set(k, v);
    if (done && terms.size < old.length && (await f.ztunnelPods()).every((p) => !old.includes(p.name))) break;
    await sleepMs(500);
  }
  await rollout;
  t.true(terms.size > 0, 'the old ztunnels were terminated');
  const firstTerm = Math.min(...terms.values());
  const lastTerm = Math.max(...terms.values());
  // Wait past the last drain deadline, then read what the client saw.
  await sleepMs(Math.max(0, lastTerm + 25_000 + 8_000 - Date.now()));
  const log = await holderLog();
  const mine = log.filter((l) => l.conn === conn);
  const lastEcho = Math.max(...mine.filter((l) => l.what === 'echo').map((l) => l.at));
  const closed = mine.find((l) => l.what === 'closed');
  t.log(`SIGTERM to the old ztunnels at +0 s..+${((lastTerm - firstTerm) / 1000).toFixed(1)} s; the connection's last echo at +${((lastEcho - firstTerm) / 1000).toFixed(1)} s; closed at ${closed ? `+${((closed.at - firstTerm) / 1000).toFixed(1)} s` : 'never'}`);
  // It outlived the first SIGTERM by more than the old 5 s deadline: the drain kept it.
  t.true(lastEcho > firstTerm + 10_000, 'the connection still carried data 10 s after its ztunnel was told to stop');
  // It was ended by the drain deadline (a second or two of slack for the deletion timestamp's whole seconds).
  t.truthy(closed, 'the old connection was closed at the drain deadline');
  t.true(closed!.at <= lastTerm + 25_000 + 3_000, 'closed by the drain deadline');
  // The client reconnected through the new ztunnels right away and echoes again.
  const next = log.filter((l) => l.conn === conn + 1);
  t.true(next.some((l) => l.what === 'echo'), 'the reconnected client echoes through the new ztunnel');
  t.false(log.some((l) => l.what === 'refused' && l.at > closed!.at), 'no reconnect refused');
});

test.serial('waypoint rolled during load: no request lost, and the L7 policy holds throughout', async (t) => {
  await f.ambit(['waypoint', 'apply', '-n', ns, '--enroll-namespace', '--wait'], 200_000);
  await f.must(['apply', '-f', '-'], `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-delete, namespace: ${ns}}
spec:
  targetRefs: [{kind: Service, group: "", name: server}]
  action: DENY
  rules: [{to: [{operation: {methods: ["DELETE"]}}]}]
`);
  await f.must(['apply', '-n', ns, '-f', '-'], proberManifest('http://server/', 'ambit-node-2'));
  await f.must(['rollout', 'status', '-n', ns, 'deployment/prober', '--timeout=120s']);
  await f.eventually('the prober served', async () => {
    const last = (await probes(f, 0, Date.now())).slice(-8);
    return last.length === 8 && last.every((p) => p.code === '200');
  }, 120_000);
  // Through the waypoint: the L7 policy answers DELETE with 403.
  await f.must(['apply', '-n', ns, '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: deleter}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: c, image: "ambit/test-tools:0.1.0", command: ["sleep", "infinity"]}]
`);
  await f.must(['wait', '-n', ns, '--for=condition=Ready', 'pod/deleter', '--timeout=120s']);
  const del = async () => (await f.must(['exec', '-n', ns, 'deleter', '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '-X', 'DELETE', 'http://server/'])).trim();
  await f.eventually('DELETE denied by the waypoint', async () => (await del()) === '403', 90_000);
  await sleepMs(2000);
  const start = Date.now();
  await f.must(['rollout', 'restart', '-n', ns, 'deployment/waypoint']);
  await f.must(['rollout', 'status', '-n', ns, 'deployment/waypoint', '--timeout=180s']);
  // Until the old pod is gone (its drain), and a little after.
  await f.eventually('one waypoint pod left', async () => (await f.must(['get', 'pods', '-n', ns, '-l', 'gateway.networking.k8s.io/gateway-name=waypoint', '-o', 'name'])).trim().split('\n').length === 1, 60_000);
  await sleepMs(3000);
  const record = await probes(f, start, Date.now());
  t.true(record.length > 20, `${record.length} probes during the roll`);
  t.deepEqual(describeFailures(record), '', 'every request during the roll answered 200');
  t.is(await del(), '403', 'the new waypoint enforces the policy');
});

