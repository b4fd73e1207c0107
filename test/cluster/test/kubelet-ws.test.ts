// `kubectl exec` over WebSocket straight to the kubelet (v5.channel.k8s.io), as kube-apiserver proxies it for a
// Node that declares ExtendWebSocketsToKubelet.
import test from 'ava';
import WebSocket from 'ws';
import { startKubeletServer, type KubeletServer } from '../src/kubelet/index.js';
import { FakeRuntime } from '../src/kubelet/testing/fake-runtime.js';
import { kubeletTestPKI } from '../src/kubelet/testing/pki.js';

const pki = kubeletTestPKI();
const runtime = new FakeRuntime();
runtime.addContainer({ namespace: 'default', pod: 'web', container: 'app' });
let server: KubeletServer;

test.before(async () => {
  server = await startKubeletServer({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    runtime,
    log: () => undefined,
  });
});

test.after.always(async () => {
  await server?.close();
});

interface WsResult {
  protocol: string;
  /** Data per channel, in arrival order. */
  channels: Record<number, string>;
  /** The first message's channel (the "ready" signal) */
  first?: number;
  closeCode: number;
}

function wsExec(query: string, opts: { protocols?: string[]; stdin?: string[]; closeStdin?: boolean; cert?: boolean } = {}): Promise<WsResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${server.port}/exec/default/web/app?${query}`, opts.protocols ?? ['v5.channel.k8s.io'], {
      ca: pki.ca.certPem,
      cert: opts.cert === false ? undefined : pki.client.certPem,
      key: opts.cert === false ? undefined : pki.client.keyPem,
    });
    const result: WsResult = { protocol: '', channels: {}, closeCode: 0 };
    ws.on('open', () => {
      result.protocol = ws.protocol;
      for (const s of opts.stdin ?? []) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(s)]));
      if (opts.closeStdin) ws.send(Buffer.from([255, 0]));
    });
    ws.on('message', (data: Buffer) => {
      result.first ??= data[0];
      result.channels[data[0]!] = (result.channels[data[0]!] ?? '') + data.subarray(1).toString();
    });
    ws.on('close', (code) => {
      result.closeCode = code;
      resolve(result);
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new Error(`${res.statusCode}: ${body}`)));
    });
    ws.on('error', reject);
  });
}

test('v5: echo hi, a ready message first, Success on the error channel, then a normal close', async (t) => {
  const r = await wsExec('command=echo&command=hi&output=1&error=1');
  t.is(r.protocol, 'v5.channel.k8s.io');
  t.is(r.first, 1);
  t.is(r.channels[1], 'hi\n');
  t.deepEqual(JSON.parse(r.channels[3] ?? ''), { metadata: {}, status: 'Success' });
  t.is(r.closeCode, 1000);
});

test('v5: exit code and stderr', async (t) => {
  const r = await wsExec(`command=sh&command=-c&command=${encodeURIComponent('echo e >&2; exit 7')}&output=1&error=1`);
  t.is(r.channels[2], 'e\n');
  t.like(JSON.parse(r.channels[3] ?? ''), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
});

test('v5: stdin, ended by the close signal', async (t) => {
  const r = await wsExec('command=cat&input=1&output=1', { stdin: ['one ', 'two'], closeStdin: true });
  t.is(r.channels[1], 'one two');
  t.like(JSON.parse(r.channels[3] ?? ''), { status: 'Success' });
});

test('an unsupported subprotocol or no client certificate is refused', async (t) => {
  await t.throwsAsync(wsExec('command=true&output=1', { protocols: ['base64.channel.k8s.io'] }), { message: /^400: .*not supported/ });
  await t.throwsAsync(wsExec('command=true&output=1', { cert: false }), { message: /^401/ });
});
