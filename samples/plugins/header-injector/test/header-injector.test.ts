import test from 'ava';
import { createTestEnv, runPlugin } from '@ambit/plugin-sdk/testing';
import { HeaderInjector } from '../src/index.js';

const config = {
  request: { set: { 'x-env': 'prod' }, add: { 'x-tag': 'b' }, remove: ['x-debug'] },
  response: { set: { 'x-served-by': 'waypoint' }, remove: ['server'] },
  identityHeader: 'x-caller',
};

test('sets, adds and removes request and response headers from its pluginConfig', async (t) => {
  const r = await runPlugin(HeaderInjector, { headers: { 'x-debug': '1', 'x-tag': 'a' }, upstream: { headers: { server: 'app' } } }, { config });
  t.is(r.requestHeaders['x-env'], 'prod');
  t.deepEqual(r.requestHeaders['x-tag'], ['a', 'b']);
  t.false('x-debug' in r.requestHeaders);
  t.is(r.responseHeaders['x-served-by'], 'waypoint');
  t.false('server' in r.responseHeaders);
});

test('passes the caller SPIFFE identity upstream, and strips a forged one from unauthenticated callers', async (t) => {
  const withId = await runPlugin(HeaderInjector, { principal: 'spiffe://cluster.local/ns/default/sa/sleep', headers: { 'x-caller': 'forged' } }, { config });
  t.is(withId.requestHeaders['x-caller'], 'spiffe://cluster.local/ns/default/sa/sleep');
  const anon = await runPlugin(HeaderInjector, { headers: { 'x-caller': 'forged' } }, { config });
  t.false('x-caller' in anon.requestHeaders);
});

test('counts the requests it changed, by destination service', async (t) => {
  const env = createTestEnv({ services: [{ name: 'reviews', namespace: 'default', hostname: 'reviews.default.svc.cluster.local', vips: ['/10.96.0.31'], ports: { 9080: 9080 } }] });
  await runPlugin(HeaderInjector, { destination: '10.96.0.31:9080' }, { env, config });
  t.is(env.metrics.get('header_injector_requests_total', { destination_service: 'reviews.default.svc.cluster.local' }), 1);
});

test('no config: passes requests through untouched', async (t) => {
  const r = await runPlugin(HeaderInjector, { headers: { a: 'b' } });
  t.is(r.status, 200);
  t.deepEqual(r.requestHeaders, { a: 'b' });
});
