// The runtime's ConfigClient against a scripted server: what it does with malformed and hostile messages.

import test from 'ava';
import type http2 from 'node:http2';
import { ConfigClient, STREAM_PATH, type MeshConfig } from '@ambit/mesh-api';
import { startTestCa, token } from './ca-fixtures.js';

const goodWorkload = { uid: 'Kubernetes//Pod/default/a', name: 'a', namespace: 'default', serviceAccount: 'a', workloadIps: ['10.0.0.1'], protocol: 'HBONE' };

/** A server whose stream handler writes `lines` in order, waiting for a reply after each, and records replies. */
async function scripted(t: { teardown(fn: () => unknown): void }, lines: string[], clientOpts: Record<string, unknown> = {}) {
  const env = await startTestCa();
  const replies: Record<string, unknown>[] = [];
  let streams = 0;
  env.ca.server.route(STREAM_PATH, async (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    streams++;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    req.setEncoding('utf8');
    let buf = '';
    let waiting: (() => void) | undefined;
    req.on('data', (c: string) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        replies.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
        waiting?.();
      }
    });
    for (const line of lines) {
      const got = new Promise<void>((r) => (waiting = r));
      res.stream.write(line + '\n');
      await got;
    }
  });
  const c = new ConfigClient<MeshConfig>({
    address: env.address,
    rootCert: env.ca.rootPem,
    token: token('istio-system', 'ztunnel'),
    kind: 'ztunnel',
    ...clientOpts,
  });
  t.teardown(async () => {
    await c.stop();
    await env.ca.stop();
  });
  await c.start();
  const until = Date.now() + 5000;
  while (replies.length < lines.length && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  return { c, replies, streams: () => streams };
}

const full = (nonce: string, version: string, cfg: unknown) => JSON.stringify({ nonce, version, full: cfg });

test('malformed and hostile messages are NACKed and ignored; good ones still apply', async (t) => {
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const { c, replies } = await scripted(t, [
    full('n1', 'v1', { workloads: [goodWorkload] }),
    'this is not json',
    deep,
    JSON.stringify({ nonce: 'n2', version: 'v2' }),
    full('n3', 'v3', { workloads: [{ ...goodWorkload, workloadIps: ['not-an-ip'] }] }),
    full('n4', 'v4', { workloads: [goodWorkload], surprise: true }),
    '{"nonce":"n5","version":"v5","full":{"__proto__":{"polluted":true}}}',
    JSON.stringify({ nonce: 'n6', version: 'v6', base: 'v0', upserts: { workloads: [] } }),
    full('n7', 'v7', { workloads: [goodWorkload, goodWorkload] }),
    JSON.stringify({ nonce: 'n8', version: 'v8', base: 'v1', upserts: { policies: [{ name: 'p', namespace: 'default', scope: 'Namespace', action: 'Allow', dryRun: false, rules: [[[{ principals: ['bare string'] }]]] }] } }),
    JSON.stringify({ nonce: 'n9', version: 'v9', base: 'v1', removals: { workloads: [goodWorkload.uid] } }),
  ]);
  t.deepEqual(replies, [
    { ack: 'n1' },
    { nack: '', error: "not JSON: Unexpected token 'h', \"this is not json\" is not valid JSON" },
    { nack: '', error: 'message: expected an object' },
    { nack: 'n2', error: 'message: carries neither full nor upserts/removals' },
    { nack: 'n3', error: 'workloads[0].workloadIps[0]: expected an IP address' },
    { nack: 'n4', error: 'surprise: unknown field' },
    { nack: 'n5', error: '__proto__: unknown field' },
    { nack: 'n6', error: 'delta for base v0 but holding version v1' },
    { nack: 'n7', error: 'workloads[1]: duplicate key "Kubernetes//Pod/default/a"' },
    { nack: 'n8', error: 'policies[0].rules[0][0][0].principals[0]: expected a string match' },
    { ack: 'n9' },
  ]);
  t.is(({} as Record<string, unknown>).polluted, undefined);
  t.is(c.version, 'v9');
  t.deepEqual(c.config!.workloads, []);
  t.is(c.stats.nacks, 9);
});

test('an over-long message is NACKed and skipped without breaking the stream', async (t) => {
  const big = full('big', 'v2', { workloads: Array.from({ length: 200 }, (_, i) => ({ ...goodWorkload, uid: `u${i}` })) });
  const { c, replies } = await scripted(t, [full('n1', 'v1', { workloads: [] }), big, full('n3', 'v3', { workloads: [goodWorkload] })], {
    maxMessageBytes: 4096,
  });
  t.deepEqual(replies, [{ ack: 'n1' }, { nack: '', error: 'message longer than 4096 bytes' }, { ack: 'n3' }]);
  t.is(c.version, 'v3');
});

test('a listener that throws NACKs the update and the last good config stays', async (t) => {
  const envCa = await startTestCa();
  const replies: unknown[] = [];
  envCa.ca.server.route(STREAM_PATH, async (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    res.writeHead(200);
    req.setEncoding('utf8');
    req.on('data', (d: string) => replies.push(...d.trim().split('\n').map((l) => JSON.parse(l))));
    res.stream.write(full('n1', 'v1', { workloads: [] }) + '\n');
    setTimeout(() => res.stream.write(full('n2', 'v2', { workloads: [goodWorkload] }) + '\n'), 50);
  });
  const c = new ConfigClient<MeshConfig>({ address: envCa.address, rootCert: envCa.ca.rootPem, token: token('istio-system', 'ztunnel'), kind: 'ztunnel' });
  t.teardown(async () => {
    await c.stop();
    await envCa.ca.stop();
  });
  c.onUpdate((cfg) => {
    if (cfg.workloads!.length) throw new Error('cannot program workload a');
  });
  await c.start();
  const until = Date.now() + 5000;
  while (replies.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(replies, [{ ack: 'n1' }, { nack: 'n2', error: 'cannot program workload a' }]);
  t.is(c.version, 'v1');
  t.deepEqual(c.config!.workloads, []);
});

test('without a controller the client keeps retrying with back-off and keeps no config', async (t) => {
  const c = new ConfigClient<MeshConfig>({
    address: 'https://127.0.0.1:1',
    rootCert: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n',
    token: 'x',
    kind: 'ztunnel',
    backoffInitialMs: 10,
    backoffMaxMs: 20,
  });
  t.teardown(() => c.stop());
  await c.start();
  await new Promise((r) => setTimeout(r, 300));
  t.false(c.connected);
  t.is(c.config, undefined);
  t.true(c.stats.connects === 0);
});
