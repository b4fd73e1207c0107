// `kubectl logs` at the kubelet (/containerLogs), /healthz, /run and client-certificate authentication.
import test from 'ava';
import { request } from 'node:https';
import { startKubeletServer, type KubeletServer } from '../src/kubelet/index.js';
import { parseLogOptions } from '../src/kubelet/logs.js';
import { FakeRuntime } from '../src/kubelet/testing/fake-runtime.js';
import { kubeletTestPKI, type TestCert } from '../src/kubelet/testing/pki.js';

const pki = kubeletTestPKI();
const runtime = new FakeRuntime();
const app = { namespace: 'default', pod: 'web', container: 'app' };
runtime.addContainer(app, ['one', 'two', 'three', 'four'], ['old-1', 'old-2']);
const fresh = { namespace: 'default', pod: 'web', container: 'fresh' };
runtime.addContainer(fresh, ['a']);
const logLines: string[] = [];
let server: KubeletServer;

test.before(async () => {
  server = await startKubeletServer({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    runtime,
    log: (l) => logLines.push(l),
    nodeName: 'node-1',
  });
});

test.after.always(async () => {
  await server?.close();
});

interface Res {
  status: number;
  body: string;
  contentType?: string;
}

function get(path: string, client: TestCert | null = pki.client, method = 'GET'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        method,
        ca: pki.ca.certPem,
        cert: client?.certPem,
        key: client?.keyPem,
        servername: 'localhost',
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: res.headers['content-type'] }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('healthz answers ok to the apiserver certificate, 401 to anyone else', async (t) => {
  t.deepEqual(await get('/healthz'), { status: 200, body: 'ok', contentType: 'text/plain; charset=utf-8' });
  t.like(await get('/healthz', null), { status: 401, body: 'Unauthorized' });
  t.like(await get('/healthz', pki.strangerClient), { status: 401, body: 'Unauthorized' });
  t.true(logLines.some((l) => l.startsWith('[kubelet node-1] kubelet: 401 GET /healthz from 127.0.0.1: no client certificate')));
});

test('unknown paths are 404', async (t) => {
  t.like(await get('/pods/nope'), { status: 404 });
  t.like(await get('/containerLogs/default/web'), { status: 404 });
});

test('the whole log as text/plain', async (t) => {
  t.deepEqual(await get('/containerLogs/default/web/app'), { status: 200, body: 'one\ntwo\nthree\nfour\n', contentType: 'text/plain; charset=utf-8' });
});

test('tailLines, tail=all, previous, timestamps and sinceSeconds reach the runtime', async (t) => {
  t.is((await get('/containerLogs/default/web/app?tailLines=2')).body, 'three\nfour\n');
  t.is((await get('/containerLogs/default/web/app?tailLines=0')).body, '');
  t.is((await get('/containerLogs/default/web/app?tail=all')).body, 'one\ntwo\nthree\nfour\n');
  t.is((await get('/containerLogs/default/web/app?previous=true')).body, 'old-1\nold-2\n');
  await get('/containerLogs/default/web/app?timestamps=true&sinceSeconds=30&tailLines=1');
  const last = runtime.calls.filter((c) => c.kind === 'logs').at(-1);
  t.deepEqual(last?.opts, { follow: false, previous: false, timestamps: true, sinceSeconds: 30, tailLines: 1 });
});

test('limitBytes cuts the body even if the runtime sends more', async (t) => {
  const r = await get('/containerLogs/default/web/app?limitBytes=6');
  t.is(r.body, 'one\ntw');
});

test('follow streams lines as they are logged and ends when the container stops', async (t) => {
  const c = { namespace: 'default', pod: 'follow', container: 'app' };
  runtime.addContainer(c, ['first']);
  const got: string[] = [];
  const done = new Promise<Res>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path: '/containerLogs/default/follow/app?follow=true', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost' },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
          got.push(chunk.toString());
          if (body === 'first\n') runtime.appendLog(c, 'second');
          if (body === 'first\nsecond\n') runtime.stop(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const r = await done;
  t.is(r.status, 200);
  t.is(r.body, 'first\nsecond\n');
  t.true(got.length >= 2, 'the second line came in its own chunk, after the first');
});

test('a client leaving a follow stops following', async (t) => {
  const c = { namespace: 'default', pod: 'leave', container: 'app' };
  runtime.addContainer(c, ['x']);
  await new Promise<void>((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path: '/containerLogs/default/leave/app?follow=1', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost', agent: false },
      (res) => {
        res.once('data', () => {
          t.is(runtime.followerCount(c), 1);
          req.destroy();
          resolve();
        });
      },
    );
    req.on('error', () => undefined);
    req.end();
  });
  for (let i = 0; i < 100 && runtime.followerCount(c) > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(runtime.followerCount(c), 0);
});

test('an unknown container is a 404, a missing previous log a 400, each with a message naming it', async (t) => {
  const ghost = await get('/containerLogs/default/ghost/app');
  t.is(ghost.status, 404);
  t.regex(ghost.body, /container "app" in pod "default\/ghost" not found/);
  const prev = await get('/containerLogs/default/web/fresh?previous=true');
  t.is(prev.status, 400); // as a real kubelet: a 404 is for an unknown pod or container only
  t.regex(prev.body, /previous terminated container "fresh" in pod "web" not found/);
});

test('bad log options are 400/422 before the runtime is asked', async (t) => {
  t.like(await get('/containerLogs/default/web/app?tailLines=abc'), { status: 400 });
  t.like(await get('/containerLogs/default/web/app?tailLines=-1'), { status: 422 });
  t.like(await get('/containerLogs/default/web/app?limitBytes=0'), { status: 422 });
  t.like(await get('/containerLogs/default/web/app?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z'), { status: 422 });
  t.like(await get('/containerLogs/default/web/app?stream=Stderr'), { status: 422 });
  t.like(await get('/containerLogs/default/web/app', pki.client, 'POST'), { status: 405 });
});

test('sinceTime becomes sinceSeconds', (t) => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  const r = parseLogOptions(new URLSearchParams('sinceTime=2026-01-01T00:00:00Z&follow=true'), now);
  t.deepEqual(r, { options: { follow: true, previous: false, timestamps: false, sinceSeconds: 60 } });
});

test('/run returns the combined output of a command', async (t) => {
  const r = await get('/run/default/web/app?cmd=echo+run+works', pki.client, 'POST');
  t.deepEqual([r.status, r.body], [200, 'run works\n']);
  const fail = await get('/run/default/web/app?cmd=false', pki.client, 'POST');
  t.is(fail.status, 500);
  t.regex(fail.body, /non-zero exit code: 1/);
});

test('close() ends open follows and returns', async (t) => {
  const own = await startKubeletServer({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    runtime,
    log: () => undefined,
  });
  const c = { namespace: 'default', pod: 'closing', container: 'app' };
  runtime.addContainer(c, ['still here']);
  const ended = new Promise<string>((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: own.port, path: '/containerLogs/default/closing/app?follow=true', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost' },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
          if (body === 'still here\n') void own.close();
        });
        res.on('close', () => resolve(body));
        res.on('error', () => undefined);
      },
    );
    req.on('error', () => resolve('request error'));
    req.end();
  });
  t.is(await ended, 'still here\n');
});
