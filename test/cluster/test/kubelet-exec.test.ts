// `kubectl exec` at the kubelet: a SPDY/3.1 remotecommand client (shaped like client-go's, which kube-apiserver
// uses) against the real server, a fake runtime spawning local processes.
import test from 'ava';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { Readable } from 'node:stream';
import { startKubeletServer, type KubeletServer } from '../src/kubelet/index.js';
import { encode } from '../src/kubelet/spdy/frames.js';
import { FakeRuntime } from '../src/kubelet/testing/fake-runtime.js';
import { kubeletTestPKI } from '../src/kubelet/testing/pki.js';
import { spdyExec, type SpdyExecOptions } from '../src/kubelet/testing/spdy-exec-client.js';

const pki = kubeletTestPKI();
const runtime = new FakeRuntime();
const ref = { namespace: 'default', pod: 'web', container: 'app' };
runtime.addContainer(ref);
const logLines: string[] = [];
let server: KubeletServer;
let strictServer: KubeletServer;

test.before(async () => {
  const base = { host: '127.0.0.1', port: 0, tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem }, runtime };
  server = await startKubeletServer({ ...base, log: (l) => logLines.push(l) });
  strictServer = await startKubeletServer({ ...base, log: (l) => logLines.push(l), hasContainer: (r) => runtime.hasContainer(r) });
});

test.after.always(async () => {
  await server?.close();
  await strictServer?.close();
});

function execPath(command: string[], query: string, target = ref): string {
  const cmd = command.map((c) => `command=${encodeURIComponent(c)}`).join('&');
  return `/exec/${target.namespace}/${target.pod}/${target.container}?${cmd}&${query}`;
}

function exec(path: string, extra: Partial<SpdyExecOptions> = {}, s = server) {
  return spdyExec({ host: '127.0.0.1', port: s.port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, path, ...extra });
}

test('echo hi: stdout, then a v4 Success status on the error stream', async (t) => {
  const r = await exec(execPath(['echo', 'hi'], 'output=1&error=1'));
  t.is(r.httpStatus, 101);
  t.is(r.protocol, 'v4.channel.k8s.io'); // client-go offers v5 first; the kubelet speaks v4 over SPDY
  t.is(r.stdout, 'hi\n');
  t.is(r.stderr, '');
  t.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' });
  t.is(r.exitCode, 0);
});

test('a non-zero exit is a NonZeroExitCode status with the ExitCode cause kubectl turns into its exit code', async (t) => {
  const r = await exec(execPath(['sh', '-c', 'echo out; echo err >&2; exit 3'], 'output=1&error=1'));
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.deepEqual(JSON.parse(r.error), {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  t.is(r.exitCode, 3);
});

test('stdin reaches the command and closing it ends the command (cat)', async (t) => {
  const r = await exec(execPath(['cat'], 'input=1&output=1&error=1'), { stdin: 'hello\nworld\n' });
  t.is(r.stdout, 'hello\nworld\n');
  t.is(r.exitCode, 0);
});

test('a megabyte through cat and back arrives intact (exec -i < file)', async (t) => {
  const data = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 10)) & 0xff;
  const r = await exec(execPath(['sh', '-c', 'cat | base64'], 'input=1&output=1&error=1'), {
    stdin: Readable.from([data.subarray(0, 300_000), data.subarray(300_000)]),
  });
  t.is(Buffer.from(r.stdout.replace(/\s/g, ''), 'base64').compare(data), 0);
  t.is(r.exitCode, 0);
});

test('the friendly parameter names (stdin/stdout/stderr=true) work too', async (t) => {
  const r = await exec(execPath(['cat'], 'stdin=true&stdout=true&stderr=true'), { stdin: 'x' });
  t.is(r.stdout, 'x');
  t.is(r.exitCode, 0);
});

test('tty: no stderr stream, resize messages accepted, tty passed to the runtime', async (t) => {
  const r = await exec(execPath(['sh', '-c', 'echo to-out; echo to-err >&2'], 'input=1&output=1&error=1&tty=1'), {
    stdin: '',
    resize: [{ Width: 80, Height: 24 }],
  });
  t.is(r.stdout.split('\n').filter(Boolean).sort().join(','), 'to-err,to-out');
  t.is(r.stderr, '');
  t.is(r.exitCode, 0);
  t.true(runtime.calls.some((c) => c.kind === 'exec' && c.tty === true && c.command?.[0] === 'sh'));
});

test('v3 and v2 clients get the error text only, and nothing on success', async (t) => {
  const ok = await exec(execPath(['true'], 'output=1'), { protocols: ['v3.channel.k8s.io'] });
  t.is(ok.protocol, 'v3.channel.k8s.io');
  t.is(ok.error, '');
  const bad = await exec(execPath(['false'], 'output=1'), { protocols: ['v2.channel.k8s.io'] });
  t.is(bad.protocol, 'v2.channel.k8s.io');
  t.is(bad.error, 'command terminated with non-zero exit code: 1');
});

test('no common protocol: 403 with the protocols the kubelet accepts', async (t) => {
  const r = await exec(execPath(['true'], 'output=1'), { protocols: ['channel.k8s.io'] });
  t.is(r.httpStatus, 403);
  t.regex(r.body ?? '', /unable to negotiate protocol/);
});

test('a request that is not a SPDY upgrade is refused with a clear message', async (t) => {
  const r = await exec(execPath(['true'], 'output=1'), { upgrade: 'h2c' });
  t.is(r.httpStatus, 400);
  t.regex(JSON.parse(r.body ?? '{}').message, /SPDY\/3\.1/);
  const plain = await httpsGet(execPath(['true'], 'output=1'));
  t.is(plain.status, 400);
  t.is(plain.body, 'Upgrade request required');
});

test('without stdin, stdout or stderr the request is refused before upgrading', async (t) => {
  const r = await exec(execPath(['true'], 'tty=1'));
  t.is(r.httpStatus, 400);
  t.regex(JSON.parse(r.body ?? '{}').message, /at least 1 of stdin, stdout, stderr/);
});

test('an unknown container: 404 before the upgrade when the runtime can tell, else a NotFound status', async (t) => {
  const ghost = { namespace: 'default', pod: 'ghost', container: 'app' };
  const early = await exec(execPath(['true'], 'output=1', ghost), {}, strictServer);
  t.is(early.httpStatus, 404);
  t.like(JSON.parse(early.body ?? '{}'), { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
  t.regex(JSON.parse(early.body ?? '{}').message, /default\/ghost\/app not found/);

  const late = await exec(execPath(['true'], 'output=1', ghost));
  t.is(late.httpStatus, 101);
  t.like(late.status, { status: 'Failure', reason: 'NotFound', code: 404 });
  t.regex(late.status?.message ?? '', /container "app" in pod "default\/ghost" not found/);
});

test('a command that cannot start is an InternalError status', async (t) => {
  const r = await exec(execPath(['/nonexistent/binary'], 'output=1&error=1'));
  t.like(r.status, { status: 'Failure', reason: 'InternalError', code: 500 });
  t.regex(r.status?.message ?? '', /^Internal error occurred: error executing command in container: .*ENOENT/);
});

test('client certificates: none or one from another CA gets 401 and a log line', async (t) => {
  const none = await exec(execPath(['true'], 'output=1'), { cert: undefined, key: undefined });
  t.is(none.httpStatus, 401);
  const stranger = await exec(execPath(['true'], 'output=1'), { cert: pki.strangerClient.certPem, key: pki.strangerClient.keyPem });
  t.is(stranger.httpStatus, 401);
  t.true(logLines.some((l) => /401 POST \/exec\/default\/web\/app \(upgrade\) from .*: no client certificate/.test(l)));
  t.true(logLines.some((l) => /401 POST \/exec\/default\/web\/app \(upgrade\) from .*: (?!no client)/.test(l)));
});

test('a malformed frame closes that connection only, with a log line', async (t) => {
  const before = logLines.length;
  const socket = connect({ host: '127.0.0.1', port: server.port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost' });
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  socket.write(
    `POST ${execPath(['cat'], 'input=1&output=1')} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
      'X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n',
  );
  let response = '';
  socket.on('data', (c: Buffer) => (response += c.toString('latin1')));
  // A SYN_STREAM whose header block is not zlib.
  socket.write(encode.synStream(1, Buffer.from('this is not a zlib stream')));
  await new Promise<void>((r) => socket.once('close', () => r()));
  t.regex(response, /^HTTP\/1\.1 101 Switching Protocols/);
  t.true(response.includes('\x80\x03\x00\x07')); // GOAWAY
  t.true(logLines.slice(before).some((l) => /protocol error: syn_stream frame/.test(l)));
  const r = await exec(execPath(['echo', 'still serving'], 'output=1'));
  t.is(r.stdout, 'still serving\n');
});

test('several execs at once on separate connections', async (t) => {
  const results = await Promise.all(
    [1, 2, 3, 4, 5].map((i) => exec(execPath(['sh', '-c', `cat; echo ${i}`], 'input=1&output=1'), { stdin: `in${i} ` })),
  );
  t.deepEqual(
    results.map((r) => r.stdout),
    ['in1 1\n', 'in2 2\n', 'in3 3\n', 'in4 4\n', 'in5 5\n'],
  );
});

test('a client hanging up mid-command: stdin ends, the abort signal fires, the command finishes', async (t) => {
  const r = await exec(execPath(['sh', '-c', 'cat >/dev/null; echo hang-up-test'], 'input=1&output=1&error=1'), {
    stdin: 'partial input',
    hangUpAfterStreams: true,
  });
  t.is(r.httpStatus, 101);
  const call = runtime.calls.find((c) => c.command?.[2]?.includes('hang-up-test'));
  t.truthy(call?.ended);
  t.is(await call!.ended, 0); // cat saw the end of its input once the connection was gone
  t.true(call!.signal?.aborted);
  t.true(logLines.some((l) => /exec default\/web\/app sh exited 0 \(spdy v4\.channel\.k8s\.io/.test(l)));
});

function httpsGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost' },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
