// Limits on :15012 (issue 12): TokenReviews for unknown tokens are cached when refused, shared when concurrent and
// rate-limited; config streams per caller and connections are bounded; idle connections are closed.
import test from 'ava';
import http2 from 'node:http2';
import { ConfigClient, nullLogger, type MeshConfig } from '@ambit/mesh-api';
import { Authenticator, AuthError, CaComponent, staticPodLookup, type TokenReviewer } from '../src/ca/index.js';
import { PushComponent } from '../src/push/index.js';
import { fakeReviewer, memorySecrets, pod, token } from './ca-fixtures.js';

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function counting(review: TokenReviewer = fakeReviewer) {
  const calls: string[] = [];
  const reviewer: TokenReviewer = async (tok, aud) => {
    calls.push(tok);
    return review(tok, aud);
  };
  return { calls, reviewer };
}

test('a refused token is answered from the negative cache: one TokenReview for many attempts', async (t) => {
  const { calls, reviewer } = counting();
  const auth = new Authenticator({ review: reviewer });
  for (let i = 0; i < 5; i++) {
    const err = await t.throwsAsync(auth.authenticate('Bearer garbage'), { instanceOf: AuthError });
    t.is(err!.status, 401);
    t.is(err!.message, 'authentication failure: invalid bearer token');
  }
  t.is(calls.length, 1);
});

test('a failing API server is not cached as a refusal', async (t) => {
  let down = true;
  const auth = new Authenticator({
    review: async (tok, aud) => {
      if (down) throw new Error('connect ECONNREFUSED');
      return fakeReviewer(tok, aud);
    },
  });
  await t.throwsAsync(auth.authenticate(`Bearer ${token('default', 'sleep')}`), { message: /token review failed: connect ECONNREFUSED/ });
  down = false;
  t.is((await auth.authenticate(`Bearer ${token('default', 'sleep')}`)).serviceAccount, 'sleep');
});

test('concurrent requests with one token share one TokenReview', async (t) => {
  const { calls, reviewer } = counting();
  const auth = new Authenticator({ review: reviewer });
  const got = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(`Bearer ${token('default', 'sleep')}`)));
  t.true(got.every((c) => c.serviceAccount === 'sleep'));
  t.is(calls.length, 1);
});

test('reviews of unknown tokens are rate-limited (429); known tokens still pass', async (t) => {
  const { calls, reviewer } = counting();
  const auth = new Authenticator({ review: reviewer, reviewsPerSecond: 0.001, reviewBurst: 2 });
  t.is((await auth.authenticate(`Bearer ${token('default', 'a')}`)).serviceAccount, 'a');
  await t.throwsAsync(auth.authenticate('Bearer junk-1'), { instanceOf: AuthError });
  const err = await t.throwsAsync(auth.authenticate('Bearer junk-2'), { instanceOf: AuthError });
  t.is(err!.status, 429);
  t.is(err!.message, 'authentication failure: too many token reviews; retry later');
  t.is((await auth.authenticate(`Bearer ${token('default', 'a')}`)).serviceAccount, 'a');
  t.is(calls.length, 2);
});

async function startCa(t: import('ava').ExecutionContext, limits: { maxSessions?: number; idleTimeoutMs?: number } = {}) {
  const logs: string[] = [];
  const ca = new CaComponent({
    port: 0,
    host: '127.0.0.1',
    tokenReviewer: fakeReviewer,
    pods: staticPodLookup(() => [pod('istio-system', 'ztunnel-a', 'ztunnel', 'node-a'), pod('istio-system', 'ztunnel-b', 'ztunnel', 'node-b')]),
    secrets: memorySecrets(),
    limits,
    log: { ...nullLogger, info: (m: string) => void logs.push(m), warn: (m: string) => void logs.push(m) },
  });
  await ca.start();
  t.teardown(() => ca.stop());
  return { ca, logs, address: `https://localhost:${ca.server.port}` };
}

function connect(env: { address: string; ca: { rootPem: string } }) {
  const s = http2.connect(env.address, { ca: env.ca.rootPem });
  s.on('error', () => {});
  return s;
}

test('a connection that opens no stream is closed when idle, and the close is logged', async (t) => {
  const env = await startCa(t, { idleTimeoutMs: 100 });
  const s = connect(env);
  let closed = false;
  s.on('close', () => (closed = true));
  await waitFor(() => closed);
  t.true(env.logs.includes('idle connection closed'));
  // The client can see the close before the server's own session 'close' event runs.
  await waitFor(() => env.ca.server.sessions === 0);
  t.is(env.ca.server.sessions, 0);
});

test('connections beyond maxSessions are refused; the open one keeps working', async (t) => {
  const env = await startCa(t, { maxSessions: 1 });
  const first = connect(env);
  t.teardown(() => first.destroy());
  await new Promise((r) => first.once('connect', r));
  await waitFor(() => env.ca.server.sessions === 1);
  const second = connect(env);
  let closed = false;
  second.on('close', () => (closed = true));
  await waitFor(() => closed);
  t.true(env.logs.includes('connection refused: too many connections'));
  const req = first.request({ ':method': 'GET', ':path': '/nothing' });
  req.end();
  const [status] = await new Promise<[number]>((r) => req.on('response', (h) => r([Number(h[':status'])])));
  t.is(status, 404);
});

test('config streams per caller pod are bounded (429 naming the pod); other callers are unaffected', async (t) => {
  const env = await startCa(t);
  const push = new PushComponent({ server: env.ca.server, authenticator: env.ca.authenticator, pods: env.ca.pods, maxStreamsPerCaller: 2, log: nullLogger });
  await push.start();
  t.teardown(() => push.stop());
  push.update({ mesh: { workloads: [], services: [], policies: [] }, waypoints: new Map() });
  const refusals: string[] = [];
  for (let i = 0; i < 4; i++) {
    const node = i < 3 ? 'a' : 'b';
    const c = new ConfigClient<MeshConfig>({
      address: env.address,
      rootCert: env.ca.rootPem,
      token: token('istio-system', 'ztunnel', `ztunnel-${node}`),
      kind: 'ztunnel',
      node: `node-${node}`,
      backoffInitialMs: 5000,
      log: { info() {}, warn: (_m: string, f: Record<string, unknown>) => void refusals.push(String(f.reason)) },
    } as never);
    t.teardown(() => c.stop());
    await c.start();
    if (i < 2) await waitFor(() => push.push.clients().length === i + 1);
    if (i === 2) await waitFor(() => refusals.length > 0);
  }
  t.regex(refusals[0]!, /HTTP 429 .*too many config streams for istio-system\/ztunnel-a \(limit 2\)/);
  await waitFor(() => push.push.clients().some((c) => c.client === 'ztunnel/node-b'));
  t.deepEqual(push.push.clients().map((c) => c.client).sort(), ['ztunnel/node-a', 'ztunnel/node-a', 'ztunnel/node-b']);
});
