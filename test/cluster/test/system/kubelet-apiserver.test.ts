// kubectl exec and kubectl logs end to end: real kubectl v1.36 -> real kube-apiserver (default feature gates: it
// translates kubectl's WebSocket to SPDY for our Node) -> our kubelet server -> a fake runtime running local
// processes. Owns its etcd and kube-apiserver (no root, no network namespaces); needs the built binaries.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { buildControlPlane } from '../../src/controlplane/build.js';
import { startKubeletServer, type KubeletServer } from '../../src/kubelet/index.js';
import { freePort, startTestControlPlane, type TestControlPlane } from '../../src/kubelet/testing/apiserver.js';
import { FakeRuntime } from '../../src/kubelet/testing/fake-runtime.js';
import { kubeletTestPKI } from '../../src/kubelet/testing/pki.js';

const pki = kubeletTestPKI();
const runtime = new FakeRuntime();
const app = { namespace: 'default', pod: 'web', container: 'app' };
runtime.addContainer(app, ['line 1', 'line 2', 'line 3']);
runtime.addContainer({ namespace: 'default', pod: 'web-ws', container: 'app' });
const kubeletLog: string[] = [];
let cp: TestControlPlane;
let kubelet: KubeletServer;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], opts: { stdin?: string | Buffer; env?: Record<string, string>; onStdout?: (s: string) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cp.kubectl, ['--request-timeout=60s', ...args], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfig, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A wedged control plane must fail the test, not hang it.
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.stdin.on('error', () => undefined); // kubectl may exit before reading its input
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      opts.onStdout?.(stdout);
    });
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: code === null ? `${stderr}\n(killed)\n${cp.output().slice(-3000)}` : stderr });
    });
    p.stdin.end(opts.stdin ?? undefined);
  });
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, { stdin });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

test.before(async () => {
  const binDir = await buildControlPlane();
  kubelet = await startKubeletServer({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    runtime,
    log: (l) => kubeletLog.push(l),
  });
  cp = await startTestControlPlane(binDir, pki);
  // Two Nodes on the same kubelet server: one declares nothing (the apiserver translates WebSocket to SPDY), the
  // other declares ExtendWebSocketsToKubelet as a real 1.36 kubelet does (the apiserver proxies the WebSocket).
  for (const [nodeName, declaredFeatures] of [['kubelet-test-node', undefined], ['kubelet-test-node-ws', ['ExtendWebSocketsToKubelet']]] as const) {
    await ok(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } }));
    const status = {
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
        daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } },
        ...(declaredFeatures ? { declaredFeatures } : {}),
      },
    };
    await ok(['patch', 'node', nodeName, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  }
  for (const [name, nodeName] of [['web', 'kubelet-test-node'], ['ghost', 'kubelet-test-node'], ['web-ws', 'kubelet-test-node-ws']]) {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName, containers: [{ name: 'app', image: 'busybox' }] },
    };
    await ok(['create', '-f', '-'], JSON.stringify(pod));
    // Nothing runs these pods but our fake runtime; kubectl port-forward insists on phase Running.
    await ok(['patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Running' } })]);
  }
});

test.after.always(async () => {
  await cp?.stop();
  await kubelet?.close();
});

const paths: { name: string; pod: string; env: Record<string, string>; kubeletSees: string }[] = [
  // kubectl 1.36 speaks WebSockets by default; the apiserver translates to SPDY for a Node without the feature.
  { name: 'websocket, translated', pod: 'web', env: {}, kubeletSees: 'spdy v4.channel.k8s.io' },
  // KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false: kubectl speaks SPDY, which the apiserver proxies as is.
  { name: 'spdy', pod: 'web', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, kubeletSees: 'spdy v4.channel.k8s.io' },
  // A Node declaring ExtendWebSocketsToKubelet: the apiserver proxies kubectl's WebSocket as is.
  { name: 'websocket, to the kubelet', pod: 'web-ws', env: {}, kubeletSees: 'websocket v5.channel.k8s.io' },
];

for (const { name: transport, pod, env, kubeletSees } of paths) {

  test.serial(`kubectl exec (${transport}): echo hi`, async (t) => {
    const r = await kubectl(['exec', pod, '-c', 'app', '--', 'echo', 'hi'], { env });
    t.deepEqual(r, { code: 0, stdout: 'hi\n', stderr: '' }, kubeletLog.join('\n'));
    t.regex(kubeletLog.filter((l) => l.includes(`exec default/${pod}/app echo`)).at(-1) ?? '', new RegExp(`exited 0 \\(${kubeletSees},`));
  });

  test.serial(`kubectl exec (${transport}): the exit code and stderr come through`, async (t) => {
    const r = await kubectl(['exec', pod, '-c', 'app', '--', 'sh', '-c', 'echo out; echo oops >&2; exit 3'], { env });
    t.is(r.code, 3);
    t.is(r.stdout, 'out\n');
    t.is(r.stderr, 'oops\ncommand terminated with exit code 3\n');
  });

  test.serial(`kubectl exec -i (${transport}): stdin from a file, closed at its end`, async (t) => {
    const r = await kubectl(['exec', '-i', pod, '-c', 'app', '--', 'cat'], { env, stdin: 'first\nsecond\n' });
    t.deepEqual(r, { code: 0, stdout: 'first\nsecond\n', stderr: '' });
  });

  test.serial(`kubectl exec -i (${transport}): two megabytes each way`, async (t) => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = 97 + ((i * 31 + (i >> 12)) % 26);
    const r = await kubectl(['exec', '-i', pod, '-c', 'app', '--', 'cat'], { env, stdin: data });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout.length, data.length);
    t.true(Buffer.from(r.stdout).equals(data));
  });
}

test.serial('kubectl exec into a pod this node does not run: the error names it', async (t) => {
  const r = await kubectl(['exec', 'ghost', '-c', 'app', '--', 'true']);
  t.not(r.code, 0);
  t.regex(r.stderr, /not found/);
});

test.serial('kubectl logs and --tail', async (t) => {
  t.is(await ok(['logs', 'web', '-c', 'app']), 'line 1\nline 2\nline 3\n');
  t.is(await ok(['logs', 'web', '-c', 'app', '--tail=1']), 'line 3\n');
  const call = runtime.calls.filter((c) => c.kind === 'logs').at(-1);
  t.like(call?.opts, { tailLines: 1, follow: false });
});

test.serial('kubectl logs -f follows until the container stops', async (t) => {
  const r = await kubectl(['logs', '-f', 'web', '-c', 'app'], {
    onStdout: (all) => {
      if (all === 'line 1\nline 2\nline 3\n') runtime.appendLog(app, 'line 4');
      if (all.endsWith('line 4\n')) runtime.stop(app);
    },
  });
  t.deepEqual(r, { code: 0, stdout: 'line 1\nline 2\nline 3\nline 4\n', stderr: '' });
});

test.serial('kubectl logs of a pod this node does not run is an error', async (t) => {
  const r = await kubectl(['logs', 'ghost', '-c', 'app']);
  t.not(r.code, 0);
  // kube-apiserver replaces the message of a kubelet 404 with its own (as for a real kubelet).
  t.regex(r.stderr, /NotFound/);
});

test.serial('kubectl logs --previous without a previous instance shows the kubelet message', async (t) => {
  const r = await kubectl(['logs', 'web', '-c', 'app', '--previous']);
  t.is(r.code, 1);
  t.is(r.stderr, 'Error from server (BadRequest): previous terminated container "app" in pod "web" not found\n');
});

// script(1) (util-linux) provides the pty.
const withPty = spawnSync('sh', ['-c', 'command -v script']).status === 0 ? test.serial : test.serial.skip;
for (const pod of ['web', 'web-ws']) {
  withPty(`kubectl exec -it under a terminal (${pod}): tty, resize, stdin, exit code`, async (t) => {
    // script(1) gives kubectl a pty, so it really runs in raw mode and sends terminal sizes.
    const cmd = `${cp.kubectl} exec -it ${pod} -c app -- sh -c 'echo in-tty; read x; echo got:$x; exit 4'; echo kubectl-exit:$?`;
    const p = spawn('script', ['-q', '-c', cmd, '/dev/null'], { env: { ...process.env, KUBECONFIG: cp.kubeconfig } });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stdin.end('typed\n');
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    t.is(code, 0);
    // kubectl's resize sender races the stream close and may log `E… "Encoding terminal size failed"
    // err="websocket: close sent"` in the middle of the output; that is kubectl's own log, not our server's.
    const shown = out.replace(/^E\d{4} [^\n]*"Encoding terminal size failed"[^\n]*\n/gm, '');
    t.regex(shown, /in-tty\r?\ngot:typed\r?\ncommand terminated with exit code 4\r?\nkubectl-exit:4/);
    t.true(runtime.calls.some((c) => c.kind === 'exec' && c.tty === true && c.ref.pod === pod));
  });
}

// kubectl port-forward: kubectl tunnels SPDY in a WebSocket to the apiserver, which dials us with SPDY. The fake
// runtime's "pod" is this machine's loopback, where a small server upper-cases what it receives.
for (const pod of ['web', 'web-ws']) {
  test.serial(`kubectl port-forward (${pod}): a connection through the apiserver and back`, async (t) => {
    const upper: Server = createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('end', () => s.end(got.toUpperCase()));
    });
    await new Promise<void>((r) => upper.listen(0, '127.0.0.1', () => r()));
    const remote = (upper.address() as { port: number }).port;
    const local = await freePort();
    const pf = spawn(cp.kubectl, ['port-forward', `pod/${pod}`, `${local}:${remote}`], { env: { ...process.env, KUBECONFIG: cp.kubeconfig } });
    let pfOut = '';
    try {
      await new Promise<void>((resolve, reject) => {
        pf.stdout.on('data', (b: Buffer) => {
          pfOut += b.toString();
          if (pfOut.includes(`Forwarding from 127.0.0.1:${local}`)) resolve();
        });
        pf.stderr.on('data', (b: Buffer) => (pfOut += b.toString()));
        pf.on('close', () => reject(new Error(`kubectl port-forward exited: ${pfOut}`)));
      });
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: local, allowHalfOpen: true }, () => s.end('through the tunnel'));
        let got = '';
        s.on('data', (c: Buffer) => (got += c.toString()));
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
      t.is(reply, 'THROUGH THE TUNNEL');
      t.false(pfOut.includes('error'), pfOut);
      // The Node declaring ExtendWebSocketsToKubelet gets kubectl's WebSocket tunnel as is; the other plain SPDY.
      const via = pod === 'web-ws' ? 'websocket tunnel' : 'spdy';
      t.true(kubeletLog.some((l) => l.includes(`port-forward default/${pod} port ${remote} (${via},`)), kubeletLog.join('\n'));
    } finally {
      pf.kill();
      upper.close();
    }
  });
}
