// `kubectl port-forward` at the kubelet: SPDY/3.1 portforward.k8s.io, streams paired by requestID.
import test from 'ava';
import { createServer, type Server } from 'node:net';
import { startKubeletServer, type KubeletServer } from '../src/kubelet/index.js';
import { FakeRuntime } from '../src/kubelet/testing/fake-runtime.js';
import { kubeletTestPKI } from '../src/kubelet/testing/pki.js';
import { forwardOnce, spdyPortForwardConnect } from '../src/kubelet/testing/spdy-port-forward-client.js';
import { freePort } from '../src/kubelet/testing/apiserver.js';

const pki = kubeletTestPKI();
const runtime = new FakeRuntime();
runtime.addContainer({ namespace: 'default', pod: 'web', container: 'app' });
const logLines: string[] = [];
let server: KubeletServer;
let noForward: KubeletServer;
let echo: Server;
let echoPort: number;

test.before(async () => {
  const tls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem };
  server = await startKubeletServer({ host: '127.0.0.1', port: 0, tls, runtime, log: (l) => logLines.push(l) });
  const withoutForward = { exec: runtime.exec.bind(runtime), logs: runtime.logs.bind(runtime) };
  noForward = await startKubeletServer({ host: '127.0.0.1', port: 0, tls, runtime: withoutForward, log: () => undefined });
  // The "pod's" server: upper-cases what it gets, answers when the client half-closes.
  echo = createServer({ allowHalfOpen: true }, (s) => {
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('end', () => s.end(got.toUpperCase()));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  echoPort = (echo.address() as { port: number }).port;
});

test.after.always(async () => {
  await server?.close();
  await noForward?.close();
  echo?.close();
});

const connectTo = (s: KubeletServer, path = '/portForward/default/web') =>
  spdyPortForwardConnect({ host: '127.0.0.1', port: s.port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, path });

test('two forwarded connections on one SPDY connection, each half-closed and answered', async (t) => {
  const c = await connectTo(server);
  t.is(c.httpStatus, 101);
  const [a, b] = await Promise.all([forwardOnce(c.session, echoPort, 0, 'hello'), forwardOnce(c.session, echoPort, 1, 'world')]);
  t.deepEqual(a, { reply: 'HELLO', error: '' });
  t.deepEqual(b, { reply: 'WORLD', error: '' });
  c.close();
});

test('a port nobody listens on: the reason on the error stream', async (t) => {
  const dead = await freePort();
  const c = await connectTo(server);
  const r = await forwardOnce(c.session, dead, 0, 'x');
  t.is(r.reply, '');
  t.regex(r.error, new RegExp(`^error forwarding port ${dead} to pod default/web: .*ECONNREFUSED`));
  t.true(logLines.some((l) => l.includes(`port-forward default/web: error forwarding port ${dead}`)));
  c.close();
});

test('a stream without a port is refused', async (t) => {
  const c = await connectTo(server);
  await t.throwsAsync(c.session.openStream({ streamtype: ['data'] }), { message: /reset \(status 1\)/ });
  c.close();
});

test('an unknown pod: the runtime error on the error stream', async (t) => {
  const c = await connectTo(server, '/portForward/default/ghost');
  const r = await forwardOnce(c.session, echoPort, 0, 'x');
  t.regex(r.error, /pod "ghost" in namespace "default" not found/);
  c.close();
});

test('a runtime without portForward: 501 before upgrading', async (t) => {
  const c = await connectTo(noForward);
  t.is(c.httpStatus, 501);
  t.regex(JSON.parse(c.body ?? '{}').message, /not supported/);
});
