// kubectl exec and kubectl logs end to end: real kubectl v1.36 -> real kube-apiserver (default feature gates: it
// translates kubectl's WebSocket to SPDY for our Node) -> our kubelet server -> a fake runtime running local
// processes. Owns its etcd and kube-apiserver (no root, no network namespaces); needs the built binaries.
import test from 'ava';
import { spawn } from 'node:child_process';
import { buildControlPlane } from '../../src/controlplane/build.js';
import { startKubeletServer, type KubeletServer } from '../../src/kubelet/index.js';
import { startTestControlPlane, type TestControlPlane } from '../../src/kubelet/testing/apiserver.js';
import { FakeRuntime } from '../../src/kubelet/testing/fake-runtime.js';
import { kubeletTestPKI } from '../../src/kubelet/testing/pki.js';

const pki = kubeletTestPKI();
const runtime = new FakeRuntime();
const app = { namespace: 'default', pod: 'web', container: 'app' };
runtime.addContainer(app, ['line 1', 'line 2', 'line 3']);
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
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'kubelet-test-node' } };
  await ok(['create', '-f', '-'], JSON.stringify(node));
  const status = { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } } };
  await ok(['patch', 'node', 'kubelet-test-node', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  for (const name of ['web', 'ghost']) {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName: 'kubelet-test-node', containers: [{ name: 'app', image: 'busybox' }] },
    };
    await ok(['create', '-f', '-'], JSON.stringify(pod));
  }
});

test.after.always(async () => {
  await cp?.stop();
  await kubelet?.close();
});

for (const transport of ['websocket', 'spdy'] as const) {
  // kubectl 1.36 speaks WebSockets by default; KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false makes it speak SPDY, which
  // kube-apiserver then proxies to the kubelet as is instead of translating.
  const env: Record<string, string> = transport === 'spdy' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : {};

  test.serial(`kubectl exec (${transport}): echo hi`, async (t) => {
    const r = await kubectl(['exec', 'web', '-c', 'app', '--', 'echo', 'hi'], { env });
    t.deepEqual(r, { code: 0, stdout: 'hi\n', stderr: '' }, kubeletLog.join('\n'));
  });

  test.serial(`kubectl exec (${transport}): the exit code and stderr come through`, async (t) => {
    const r = await kubectl(['exec', 'web', '-c', 'app', '--', 'sh', '-c', 'echo out; echo oops >&2; exit 3'], { env });
    t.is(r.code, 3);
    t.is(r.stdout, 'out\n');
    t.is(r.stderr, 'oops\ncommand terminated with exit code 3\n');
  });

  test.serial(`kubectl exec -i (${transport}): stdin from a file, closed at its end`, async (t) => {
    const r = await kubectl(['exec', '-i', 'web', '-c', 'app', '--', 'cat'], { env, stdin: 'first\nsecond\n' });
    t.deepEqual(r, { code: 0, stdout: 'first\nsecond\n', stderr: '' });
  });

  test.serial(`kubectl exec -i (${transport}): two megabytes each way`, async (t) => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = 97 + ((i * 31 + (i >> 12)) % 26);
    const r = await kubectl(['exec', '-i', 'web', '-c', 'app', '--', 'cat'], { env, stdin: data });
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
  t.log(r.stderr.trim());
});
