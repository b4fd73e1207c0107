import test from 'ava';
import { inject, injectable, LOGGER, METRICS, PluginChain, type Logger, type MetricsRegistry, type Plugin, type RequestContext } from '../src/index.js';
import { createTestEnv, fakeContext, runChain, runPlugin } from '../src/testing.js';

function recorder(name: string, phase: Plugin['phase'], priority: number, log: string[], extra: Partial<Plugin> = {}): Plugin {
  return {
    name,
    phase,
    priority,
    onRequest: () => void log.push(`req:${name}`),
    onResponse: () => void log.push(`res:${name}`),
    onLog: () => void log.push(`log:${name}`),
    ...extra,
  };
}

test('chain orders by phase, then priority (higher first), then declaration order', async (t) => {
  const log: string[] = [];
  await runChain(
    [
      recorder('stats', 'STATS', 0, log),
      recorder('unspec', 'UNSPECIFIED_PHASE', 100, log),
      recorder('authz-low', 'AUTHZ', 1, log),
      recorder('authz-high', 'AUTHZ', 10, log),
      recorder('authn', 'AUTHN', -5, log),
      recorder('authz-low2', 'AUTHZ', 1, log),
    ],
    {},
  );
  t.deepEqual(log.filter((l) => l.startsWith('req:')), ['req:authn', 'req:authz-high', 'req:authz-low', 'req:authz-low2', 'req:stats', 'req:unspec']);
  t.deepEqual(log.filter((l) => l.startsWith('res:')), ['res:unspec', 'res:stats', 'res:authz-low2', 'res:authz-low', 'res:authz-high', 'res:authn']);
  t.deepEqual(log.filter((l) => l.startsWith('log:')).length, 6);
});

test('a deny stops later onRequest hooks; onResponse runs only for plugins that ran; onLog for all', async (t) => {
  const log: string[] = [];
  const r = await runChain([
    recorder('a', 'AUTHN', 0, log),
    recorder('deny', 'AUTHZ', 0, log, { onRequest: (ctx: RequestContext) => ctx.deny(403, 'RBAC: access denied') }),
    recorder('c', 'STATS', 0, log),
  ]);
  t.is(r.status, 403);
  t.is(r.body, 'RBAC: access denied');
  t.false(r.forwarded);
  t.deepEqual(log, ['req:a', 'res:deny', 'res:a', 'log:a', 'log:deny', 'log:c']);
});

test('FAIL_CLOSE: a throwing plugin fails the request with 503; FAIL_OPEN skips it', async (t) => {
  const boom: Plugin = { name: 'boom', onRequest: () => { throw new Error('kaput'); } };
  const closed = await runPlugin(boom);
  t.is(closed.status, 503);
  t.is(closed.body, 'plugin boom failed');
  t.true(closed.logs.some((l) => l.includes('plugin failed') && l.includes('kaput')));
  const open = await runPlugin(boom, {}, { failStrategy: 'FAIL_OPEN' });
  t.is(open.status, 200);
  t.true(open.forwarded);
});

test('a hanging plugin times out and follows its failStrategy', async (t) => {
  const hang: Plugin = { name: 'hang', onRequest: () => new Promise<void>(() => {}) };
  const closed = await runPlugin(hang, {}, { timeoutMs: 20 });
  t.is(closed.status, 503);
  t.true(closed.logs.some((l) => l.includes('timed out after 20ms')));
  const open = await runPlugin(hang, {}, { timeoutMs: 20, failStrategy: 'FAIL_OPEN' });
  t.is(open.status, 200);
});

test('appliesTo limits a binding to some requests', async (t) => {
  const p: Plugin = { name: 'tag', onRequest: (ctx) => ctx.setRequestHeader('x-tag', 'yes') };
  const binding = { plugin: p, appliesTo: (ctx: RequestContext) => ctx.request.path.startsWith('/api') };
  t.is((await runPlugin(binding, { path: '/api/x' })).requestHeaders['x-tag'], 'yes');
  t.is((await runPlugin(binding, { path: '/other' })).requestHeaders['x-tag'], undefined);
});

test('header operations: request headers, response headers recorded before a response exists', async (t) => {
  const p: Plugin = {
    name: 'hdr',
    onRequest(ctx) {
      ctx.setRequestHeader('X-A', '1');
      ctx.removeRequestHeader('x-secret');
      ctx.setResponseHeader('x-b', '2');
      ctx.addResponseHeader('x-c', '3');
    },
    onResponse(ctx) {
      ctx.removeResponseHeader('server');
      ctx.addResponseHeader('x-c', '4');
    },
  };
  const r = await runPlugin(p, { headers: { 'x-secret': 's' }, upstream: { headers: { server: 'app', 'x-c': '0' } } });
  t.is(r.requestHeaders['x-a'], '1');
  t.false('x-secret' in r.requestHeaders);
  t.is(r.responseHeaders['x-b'], '2');
  t.deepEqual(r.responseHeaders['x-c'], ['0', '3', '4']);
  t.false('server' in r.responseHeaders);
});

test('redirect replies locally with a location', async (t) => {
  const r = await runPlugin({ name: 'r', onRequest: (ctx) => ctx.redirect('https://example.com/', 301) });
  t.is(r.status, 301);
  t.is(r.responseHeaders.location, 'https://example.com/');
});

@injectable()
class Counting implements Plugin {
  readonly name = 'counting';
  readonly phase = 'STATS' as const;
  constructor(@inject(METRICS) private metrics: MetricsRegistry, @inject(LOGGER) private log: Logger) {}
  onLog(ctx: RequestContext): void {
    this.metrics.counter({ name: 'seen_total', help: 'seen', labelNames: ['method'] }).inc({ method: ctx.request.method });
    this.log.info('seen', { path: ctx.request.path, cfg: JSON.stringify(ctx.config) });
  }
}

test('a decorated class gets its dependencies injected, and its config', async (t) => {
  const env = createTestEnv();
  await runPlugin(Counting, { method: 'POST', path: '/p?x=1' }, { env, config: { a: 1 } });
  t.is(env.metrics.get('seen_total', { method: 'POST' }), 1);
  t.regex((await env.metrics.render()), /seen_total\{method="POST"\} 1/);
  t.true(env.logger.lines.some((l) => l.includes('path="/p"') && l.includes('cfg="{\\"a\\":1}"')));
});

test('PluginChain.describe lists run order', (t) => {
  const chain = new PluginChain([{ name: 'b', phase: 'STATS' }, { name: 'a', phase: 'AUTHZ' }]);
  t.deepEqual(chain.describe().map((d) => d.name), ['a', 'b']);
});

test('fakeContext parses query, resolves a service destination by VIP', (t) => {
  const env = createTestEnv({
    services: [{ name: 'reviews', namespace: 'default', hostname: 'reviews.default.svc.cluster.local', vips: ['/10.96.0.20'], ports: { 9080: 9080 } }],
  });
  const ctx = fakeContext({ path: '/a?b=1&b=2&c', destination: '10.96.0.20:9080', principal: 'spiffe://cluster.local/ns/default/sa/sleep' }, env);
  t.deepEqual(ctx.request.query, { b: '1', c: '' });
  t.is(ctx.destination.service?.name, 'reviews');
  t.is(ctx.destination.port, 9080);
  t.is(ctx.source.namespace, 'default');
  t.is(ctx.source.serviceAccount, 'sleep');
});
