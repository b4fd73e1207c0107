// Route specs with fields of the wrong JSON type, as fuzz-routes.test.ts found them: each used to throw a TypeError
// from deep in the compiler; now the compiler refuses the spec with an Error naming the field (compileHTTPRoutes
// leaves such a route out, with that Error in `refused`).
import test from 'ava';
import type { K8sObject } from '@ambit/plugin-sdk';
import { createTestEnv } from '@ambit/plugin-sdk/testing';
import { compileHTTPRoutes, type HTTPRouteSpec } from '../src/routing/httproute.js';
import { compileVirtualServiceRoute, type HTTPRoute, type VirtualServiceSpec } from '../src/routing/virtualservice.js';

const env = createTestEnv({ waypoint: { name: 'waypoint', namespace: 'mesh' } });
const compileAll = (spec: unknown) =>
  compileHTTPRoutes([{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'mesh' }, spec: spec as HTTPRouteSpec }], env.waypoint, {
    mesh: env.mesh,
    granted: () => false,
    domain: 'cluster.local',
  });
/** The route compiled, or the Error it was refused with (thrown here; compileHTTPRoutes itself never throws). */
const compile = (spec: unknown) => {
  const out = compileAll(spec);
  if (out.refused.length) throw out.refused[0]!.error;
  return out;
};
const vs: K8sObject<VirtualServiceSpec> = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'vs', namespace: 'mesh' }, spec: {} };
const compileVs = (r: unknown) => compileVirtualServiceRoute(vs, r as HTTPRoute, { domain: 'cluster.local', backend: () => undefined, labelsOf: () => ({}) }, 0);
const svcParent = [{ group: '', kind: 'Service', name: 'echo' }];

test('HTTPRoute: a field of the wrong type is refused by name', (t) => {
  t.throws(() => compile({ parentRefs: {} }), { instanceOf: Error, message: 'spec.parentRefs: expected a list' });
  t.throws(() => compile({ parentRefs: svcParent, rules: [null] }), { message: 'spec.rules[0]: expected a value' });
  t.throws(() => compile({ parentRefs: svcParent, rules: [{ matches: [{ headers: [{ value: 'a' }] }] }] }), { message: 'spec.rules[0].matches[0].headers[0].name: required' });
  t.throws(() => compile({ parentRefs: svcParent, rules: [{ filters: [{ type: 'RequestMirror' , requestMirror: {} }] }] }), { message: 'spec.rules[0].filters[0].requestMirror.backendRef: required' });
  t.throws(() => compile({ parentRefs: svcParent, hostnames: [5] }), { message: 'spec.hostnames[0]: expected a string' });
  // Well-typed specs compile as before.
  t.is(compile({ parentRefs: svcParent, rules: [{ matches: [{ headers: [{ name: 'x', value: 'a' }] }] }] }).byService.get('mesh/echo')?.length, 1);
});

test('HTTPRoute CORS filter: a malformed one is refused by field, a valid one compiles', (t) => {
  const withCors = (cors: unknown, extra: unknown[] = []) => ({ parentRefs: svcParent, rules: [{ filters: [{ type: 'CORS', cors }, ...extra] }] });
  const f = 'spec.rules[0].filters[0].cors';
  t.throws(() => compile({ parentRefs: svcParent, rules: [{ filters: [{ type: 'CORS' }] }] }), { message: `${f}: required for a CORS filter` });
  t.throws(() => compile(withCors({ allowOrigins: 'https://a.com' })), { message: `${f}.allowOrigins: expected a list` });
  t.throws(() => compile(withCors({ allowOrigins: ['ftp://a.com'] })), { message: `${f}.allowOrigins[0]: expected an origin (<scheme>://<host>[:<port>], scheme http or https) or '*'` });
  t.throws(() => compile(withCors({ allowOrigins: ['https://a.com/path'] })), { message: /allowOrigins\[0\]: expected an origin/ });
  t.throws(() => compile(withCors({ allowOrigins: ['https://a.com', '*'] })), { message: `${f}.allowOrigins[1]: '*' cannot be listed with other values` });
  t.throws(() => compile(withCors({ allowMethods: ['GET', 'FETCH'] })), { message: `${f}.allowMethods[1]: expected an HTTP method or '*'` });
  t.throws(() => compile(withCors({ allowMethods: ['*', 'GET'] })), { message: `${f}.allowMethods[0]: '*' cannot be listed with other values` });
  t.throws(() => compile(withCors({ allowHeaders: ['x a'] })), { message: `${f}.allowHeaders[0]: expected a header name or '*'` });
  t.throws(() => compile(withCors({ exposeHeaders: [':status'] })), { message: `${f}.exposeHeaders[0]: expected a header name or '*'` });
  t.throws(() => compile(withCors({ allowCredentials: 'true' })), { message: `${f}.allowCredentials: expected a boolean` });
  t.throws(() => compile(withCors({ maxAge: 0 })), { message: `${f}.maxAge: expected at least 1` });
  t.throws(() => compile(withCors({}, [{ type: 'CORS', cors: {} }])), { message: 'spec.rules[0].filters[1]: a rule has at most one CORS filter' });
  const ok = { allowOrigins: ['https://www.foo.com', 'https://*.bar.com', 'http://*:8080'], allowMethods: ['GET', 'OPTIONS'], allowHeaders: ['x-header-1'], exposeHeaders: ['*'], allowCredentials: true, maxAge: 3600 };
  t.is(compile(withCors(ok)).byService.get('mesh/echo')?.length, 1);
  t.is(compile(withCors({ allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'] })).byService.get('mesh/echo')?.length, 1);
});

test('VirtualService http route: a route or field of the wrong type is refused by name', (t) => {
  t.throws(() => compileVs(undefined), { instanceOf: Error, message: 'http[0]: expected an object' });
  t.throws(() => compileVs({ match: [null] }), { message: 'http[0].match[0]: expected a value' });
  t.throws(() => compileVs({ match: [{ headers: { 'x-a': null } }] }), { message: 'http[0].match[0].headers: expected a value for "x-a"' });
  t.throws(() => compileVs({ route: [{ weight: 1 }] }), { message: 'http[0].route[0].destination: required' });
  t.throws(() => compileVs({ retries: { retryOn: 5 } }), { message: 'http[0].retries.retryOn: expected a string' });
  t.truthy(compileVs({ match: [{ uri: { prefix: '/a' } }], route: [{ destination: { host: 'echo' } }] }).match);
});
