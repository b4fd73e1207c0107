// The shared admin server over real loopback sockets: exact paths, 404 and 405, a throwing handler answered 500
// while the server keeps serving, malformed requests, and close().
import net from 'node:net';
import test from 'ava';
import { AdminServer, type AdminServerOptions } from '../src/index.js';

async function serve(t: { teardown(fn: () => unknown): void }, opts: Partial<AdminServerOptions> & Pick<AdminServerOptions, 'routes'>): Promise<AdminServer> {
  const s = await AdminServer.listen({ port: 0, host: '127.0.0.1', ...opts });
  t.teardown(() => s.close());
  return s;
}

async function get(s: AdminServer, path: string, method = 'GET') {
  const r = await fetch(`http://127.0.0.1:${s.port}${path}`, { method });
  return { status: r.status, type: r.headers.get('content-type'), allow: r.headers.get('allow'), body: await r.text() };
}

/** Writes raw bytes and reads until the server closes the connection. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(bytes));
    let got = '';
    c.setEncoding('latin1');
    c.on('data', (d: string) => (got += d));
    c.on('close', () => resolve(got));
    c.on('error', reject);
  });
}

test('exact paths answer with their status, content-type and body; the query is not part of the path', async (t) => {
  const seen: string[] = [];
  const s = await serve(t, {
    routes: {
      '/healthz/ready': (req) => {
        seen.push(`${req.method} ${req.path} ${req.query}`);
        return { status: 503, contentType: 'text/plain', body: 'not ready\n' };
      },
      '/plain': () => ({ body: 'OK\n' }),
      '/async': async () => ({ contentType: 'application/json', body: '{"a":1}' }),
    },
  });
  t.deepEqual(await get(s, '/healthz/ready?verbose=1'), { status: 503, type: 'text/plain', allow: null, body: 'not ready\n' });
  t.deepEqual(seen, ['GET /healthz/ready verbose=1']);
  t.deepEqual(await get(s, '/plain'), { status: 200, type: null, allow: null, body: 'OK\n' });
  t.deepEqual(await get(s, '/async'), { status: 200, type: 'application/json', allow: null, body: '{"a":1}' });
  t.deepEqual(await get(s, '/plain', 'POST'), { status: 200, type: null, allow: null, body: 'OK\n' }, 'a route without methods takes every method');
});

test('an unknown path is 404 `not found`, or the answer the server was given for it; no prefix matching', async (t) => {
  const s = await serve(t, { routes: { '/metrics': () => ({ body: 'm' }) } });
  for (const path of ['/', '/metrics/', '/metricsx', '//metrics', '/METRICS']) {
    t.deepEqual(await get(s, path), { status: 404, type: 'text/plain', allow: null, body: 'not found\n' }, path);
  }
  const bare = await serve(t, { routes: {}, notFound: { status: 404 } });
  t.deepEqual(await get(bare, '/x'), { status: 404, type: null, allow: null, body: '' });
});

test('normalizePath runs before the lookup', async (t) => {
  const s = await serve(t, { routes: { '/version': () => ({ body: 'v' }) }, normalizePath: (p) => p.replace(/^\/+/, '/') });
  t.is((await get(s, '//version')).body, 'v');
  t.is((await get(s, '///version?x')).body, 'v');
});

test('a method the path does not take is 405 with Allow, or 404 when the server says so; HEAD has no body', async (t) => {
  const routes = { '/version': { methods: ['GET', 'HEAD'], handler: () => ({ contentType: 'text/plain', body: '1.0' }) } };
  const s = await serve(t, { routes });
  const post = await get(s, '/version', 'POST');
  t.is(post.status, 405);
  t.is(post.allow, 'GET, HEAD');
  t.regex(post.body, /POST is not allowed on \/version: use GET or HEAD/);
  const head = await get(s, '/version', 'HEAD');
  t.deepEqual([head.status, head.type, head.body], [200, 'text/plain', '']);
  const istiod = await serve(t, { routes, wrongMethod: 'not-found', notFound: { status: 404 } });
  t.deepEqual(await get(istiod, '/version', 'DELETE'), { status: 404, type: null, allow: null, body: '' });
  t.is((await get(istiod, '/version')).body, '1.0');
});

test('a handler that throws or rejects gets 500 with its message, and the server keeps serving', async (t) => {
  let n = 0;
  const s = await serve(t, {
    routes: {
      '/config_dump': () => {
        if (n++ === 0) throw new Error('dump failed');
        return { contentType: 'application/json', body: '{}' };
      },
      '/reject': () => Promise.reject(new Error('later')),
      '/bad-status': () => ({ status: 1000, body: 'x' }),
    },
  });
  t.deepEqual(await get(s, '/config_dump'), { status: 500, type: 'text/plain', allow: null, body: 'dump failed\n' });
  t.deepEqual(await get(s, '/reject'), { status: 500, type: 'text/plain', allow: null, body: 'later\n' });
  const bad = await get(s, '/bad-status');
  t.is(bad.status, 500);
  t.regex(bad.body, /bad admin response for \/bad-status/);
  t.deepEqual(await get(s, '/config_dump'), { status: 200, type: 'application/json', allow: null, body: '{}' });
});

test('after() runs once the answer is written, and what it throws stays with it', async (t) => {
  const order: string[] = [];
  const s = await serve(t, {
    routes: {
      '/quitquitquit': () => ({ body: 'OK\n', after: () => order.push('quit') }),
      '/throws-after': () => ({
        body: 'sent\n',
        after: () => {
          throw new Error('after failed');
        },
      }),
    },
  });
  t.deepEqual(await get(s, '/quitquitquit', 'POST'), { status: 200, type: null, allow: null, body: 'OK\n' });
  t.deepEqual(order, ['quit']);
  t.is((await get(s, '/throws-after')).body, 'sent\n');
  t.is((await get(s, '/quitquitquit')).status, 200);
});

test('a malformed request gets 400 from the parser, and the server keeps serving', async (t) => {
  const s = await serve(t, { routes: { '/ok': () => ({ body: 'ok' }) } });
  t.regex(await raw(s.port, 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 /);
  t.regex(await raw(s.port, 'GET /ok HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), /^HTTP\/1\.1 400 /);
  t.regex(await raw(s.port, 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n2\r\nok\r\n0\r\n\r\n$/);
});

test('close() resolves with a keep-alive connection open, and the port then refuses connections', async (t) => {
  const s = await AdminServer.listen({ port: 0, host: '127.0.0.1', routes: { '/ok': () => ({ body: 'ok' }) } });
  const port = s.port;
  const idle = net.connect(port, '127.0.0.1');
  await new Promise((r) => idle.once('connect', r));
  idle.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => idle.once('data', r));
  const dropped = new Promise((r) => idle.once('close', r));
  await s.close();
  await dropped;
  await s.close();
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })));
    c.on('error', resolve);
  });
  t.is(err.code, 'ECONNREFUSED');
});

test('a port in use rejects listen() with the address in the message', async (t) => {
  const s = await serve(t, { routes: {} });
  const err = await t.throwsAsync(AdminServer.listen({ port: s.port, host: '127.0.0.1', routes: {} }));
  t.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
  t.regex(err!.message, new RegExp(`admin server on 127\\.0\\.0\\.1:${s.port}: .*EADDRINUSE`));
});
