// Property-based fuzzing of the route compilers (issue 12): Gateway API HTTPRoutes and Istio VirtualService http
// routes of arbitrary shapes either compile or are refused with one clear Error (never a TypeError from deep in the
// compiler), and what they compile to never throws on arbitrary requests. Bounded: fixed seed and run counts;
// fast-check prints the seed and the shrunk counterexample.
import test from 'ava';
import fc from 'fast-check';
import type { K8sObject, RequestContext } from '@ambit/plugin-sdk';
import { createTestEnv, fakeContext } from '@ambit/plugin-sdk/testing';
import { compileHTTPRoutes, type HTTPRouteSpec } from '../src/routing/httproute.js';
import { compileVirtualServiceRoute, type HTTPRoute, type VirtualServiceSpec } from '../src/routing/virtualservice.js';
import type { RouteEntry } from '../src/routing/types.js';

const SEED = 0x5eed12;
const opts = (numRuns: number) => ({ seed: SEED, numRuns });

const loose = <T>(a: fc.Arbitrary<T>, weight = 16) => fc.oneof({ weight, arbitrary: a }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
const list = <T>(a: fc.Arbitrary<T>, maxLength = 2) => loose(fc.array(loose(a), { maxLength }));
/** A record whose fields may each be absent, except `req` (which may still be of the wrong type). */
const opt = <T extends Record<string, fc.Arbitrary<unknown>>>(r: T, req: Array<keyof T & string> = []) => fc.record(r, { requiredKeys: req });
/** Short strings: no regular expression built from them can backtrack long on requests of at most 12 characters. */
const text = fc.oneof(fc.constantFrom('', '/', '/a', '/a/', 'a', 'x-a', 'GET', 'echo-v1', 'default', '*.example.com', 'example.com', '1s', '250ms', 'http', 'https'), fc.string({ maxLength: 6 }));
const regex = fc.oneof(fc.constantFrom('/a.*', '.*', '[', '(', '/a/[0-9]+', 'a|b', '\\', '(?<x>a)'), fc.string({ maxLength: 6 }));
const port = fc.oneof(fc.constantFrom(80, 8080, 0, 65536), fc.integer({ min: -1, max: 70000 }));

// ---- HTTPRoute ----
const nameValue = opt({ name: loose(text), value: loose(fc.oneof(text, regex)), type: loose(fc.constantFrom('Exact', 'RegularExpression')) }, ['name']);
const headerModifier = opt({ set: list(nameValue), add: list(nameValue), remove: list(text) });
const pathModifier = opt({ type: loose(fc.constantFrom('ReplaceFullPath', 'ReplacePrefixMatch')), replaceFullPath: loose(text), replacePrefixMatch: loose(text) });
const backendRef = opt({ group: loose(fc.constantFrom('', 'core', 'x')), kind: loose(fc.constantFrom('Service', 'Other')), name: loose(fc.constantFrom('echo-v1', 'echo-v2', 'nope')), namespace: loose(fc.constantFrom('mesh', 'other')), port: loose(port), weight: loose(fc.integer({ min: -1, max: 100 })) });
const filter = opt({
  type: loose(fc.constantFrom('RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'ExtensionRef')),
  requestHeaderModifier: loose(headerModifier),
  responseHeaderModifier: loose(headerModifier),
  requestRedirect: loose(opt({ scheme: loose(fc.constantFrom('http', 'https')), hostname: loose(text), path: loose(pathModifier), port: loose(port), statusCode: loose(fc.constantFrom(301, 302)) })),
  urlRewrite: loose(opt({ hostname: loose(text), path: loose(pathModifier) })),
  requestMirror: loose(opt({ backendRef: loose(backendRef), percent: loose(fc.integer({ min: 0, max: 100 })), fraction: loose(opt({ numerator: loose(fc.nat(100)), denominator: loose(fc.nat(100)) }, ['numerator'])) }, ['backendRef'])),
});
const httpRouteSpec = opt({
  parentRefs: list(opt({ group: loose(fc.constantFrom('', 'gateway.networking.k8s.io')), kind: loose(fc.constantFrom('Service', 'Gateway')), name: loose(fc.constantFrom('echo-v1', 'waypoint')), namespace: loose(fc.constantFrom('mesh', 'other')), port: loose(port) })),
  hostnames: list(text),
  rules: list(
    opt({
      matches: list(opt({ path: loose(opt({ type: loose(fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression')), value: loose(fc.oneof(text, regex)) })), headers: list(nameValue), queryParams: list(nameValue), method: loose(fc.constantFrom('GET', 'POST')) })),
      filters: list(filter),
      backendRefs: list(fc.tuple(backendRef, opt({ filters: list(filter) })).map(([b, f]) => ({ ...b, ...f }))),
      timeouts: loose(opt({ request: loose(text), backendRequest: loose(text) })),
      retry: loose(opt({ attempts: loose(fc.nat(5)), codes: list(fc.constantFrom(500, 503)) })),
    }),
  ),
});
const httpRoute = (spec: unknown, name: string): K8sObject<HTTPRouteSpec> => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'mesh' }, spec: spec as HTTPRouteSpec });

// ---- VirtualService http route ----
const stringMatch = opt({ exact: loose(text), prefix: loose(text), regex: loose(regex) });
const headerOps = opt({ set: loose(fc.dictionary(text, loose(text), { maxKeys: 2 })), add: loose(fc.dictionary(text, loose(text), { maxKeys: 2 })), remove: list(text) });
const headers = opt({ request: loose(headerOps), response: loose(headerOps) });
const destination = opt({ host: loose(fc.constantFrom('echo-v1', 'echo-v1.mesh.svc.cluster.local', 'nope')), subset: loose(text), port: loose(opt({ number: loose(port) })) }, ['host']);
const percent = opt({ value: loose(fc.double({ min: 0, max: 100, noNaN: true })) });
const vsRoute = opt({
  name: loose(text),
  match: list(
    opt({
      uri: loose(stringMatch),
      method: loose(stringMatch),
      authority: loose(stringMatch),
      scheme: loose(stringMatch),
      headers: loose(fc.dictionary(text, loose(stringMatch), { maxKeys: 2 })),
      withoutHeaders: loose(fc.dictionary(text, loose(stringMatch), { maxKeys: 2 })),
      queryParams: loose(fc.dictionary(text, loose(stringMatch), { maxKeys: 2 })),
      port: loose(port),
      sourceLabels: loose(fc.dictionary(text, loose(text), { maxKeys: 2 })),
      sourceNamespace: loose(text),
      ignoreUriCase: loose(fc.boolean()),
    }),
  ),
  route: list(opt({ destination: loose(destination), weight: loose(fc.integer({ min: -1, max: 100 })), headers: loose(headers) }, ['destination'])),
  redirect: loose(opt({ uri: loose(text), authority: loose(text), port: loose(port), scheme: loose(text), redirectCode: loose(fc.constantFrom(301, 308)) })),
  directResponse: loose(opt({ status: loose(fc.constantFrom(200, 503)), body: loose(opt({ string: loose(text) })) }, ['status'])),
  rewrite: loose(opt({ uri: loose(text), authority: loose(text) })),
  timeout: loose(text),
  retries: loose(opt({ attempts: loose(fc.nat(5)), perTryTimeout: loose(text), retryOn: loose(text) })),
  fault: loose(opt({ delay: loose(opt({ fixedDelay: loose(text), percentage: loose(percent), percent: loose(fc.nat(100)) })), abort: loose(opt({ httpStatus: loose(fc.constantFrom(500, 503)), percentage: loose(percent) })) })),
  mirror: loose(destination),
  mirrorPercentage: loose(percent),
  mirrors: list(opt({ destination: loose(destination), percentage: loose(percent) }, ['destination'])),
  headers: loose(headers),
});
const vs: K8sObject<VirtualServiceSpec> = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'vs', namespace: 'mesh' }, spec: {} };

// ---- requests ----
const services = [{ name: 'echo-v1', namespace: 'mesh', hostname: 'echo-v1.mesh.svc.cluster.local', vips: ['/10.96.5.1'], ports: { 80: 8080 } }];
const env = createTestEnv({ services, waypoint: { name: 'waypoint', namespace: 'mesh' } });
/** Node's HTTP parser keeps one Host header (the authority is a string); other headers may repeat. */
const oneHost = <R extends { headers?: Record<string, string | string[]> }>(r: R): R =>
  Array.isArray(r.headers?.host) ? { ...r, headers: { ...r.headers, host: r.headers.host.join(',') } } : r;
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'get', ''),
  path: fc.oneof(fc.constantFrom('/', '/a', '/a/b?x=1', '/a?', '//'), fc.string({ maxLength: 12 })),
  headers: fc.dictionary(fc.constantFrom('x-a', 'host', 'A', 'x-forwarded-for'), fc.oneof(fc.string({ maxLength: 12 }), fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 })), { maxKeys: 3 }),
  authority: fc.oneof(fc.constantFrom('echo-v1', 'echo-v1:80', '[::1]:80', ':', '', 'a.example.com:8080'), fc.string({ maxLength: 12 })),
  principal: fc.constantFrom('spiffe://cluster.local/ns/mesh/sa/default', 'spiffe://cluster.local/ns/other/sa/default', 'x'),
  destination: fc.constantFrom('10.96.5.1:80', '10.96.0.1:80', 'echo-v1:80'),
}, { requiredKeys: [] }).map(oneHost);

/** An error a compiler may refuse a spec with: the field named (a regular expression that does not parse, too). */
function expectClearError(err: unknown): void {
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) throw err;
  if (!/^(spec|http\[\d+\]).*: (expected|required|invalid regular expression)/.test(err.message)) throw err;
}

/** Every entry's matcher, and the redirect/rewrite of an entry that matches, run without throwing. */
function exercise(entries: RouteEntry[], ctx: RequestContext): void {
  for (const e of entries) {
    const m = e.match(ctx);
    if (!m) continue;
    e.action.redirect?.(ctx, m);
    e.action.rewrite?.(ctx, m);
  }
}

test('HTTPRoute: arbitrary specs compile or are refused, each alone, with one clear Error; compiled matchers never throw', (t) => {
  let compiled = 0;
  fc.assert(
    fc.property(fc.array(loose(httpRouteSpec), { minLength: 1, maxLength: 3 }), fc.array(request, { minLength: 1, maxLength: 3 }), (specs, reqs) => {
      // Never throws: a route that cannot be compiled is in `refused`, the others compile.
      const out = compileHTTPRoutes(specs.map((s, i) => httpRoute(s, `r${i}`)), env.waypoint, { mesh: env.mesh, granted: () => false, domain: 'cluster.local' });
      for (const r of out.refused) expectClearError(r.error);
      if (out.refused.length < specs.length) compiled++;
      const entries = [...out.gateway, ...[...out.byService.values()].flat().map((s) => s.entry)];
      for (const r of reqs) exercise(entries, fakeContext(r, env));
    }),
    opts(400),
  );
  t.true(compiled > 0);
  t.log(`${compiled} compiled`);
});

test('VirtualService: arbitrary http routes compile or are refused with one clear Error; compiled matchers never throw', (t) => {
  let compiled = 0;
  fc.assert(
    fc.property(loose(vsRoute), fc.array(request, { minLength: 1, maxLength: 3 }), fc.boolean(), (r, reqs, found) => {
      let entry: RouteEntry;
      try {
        entry = compileVirtualServiceRoute(vs, r as HTTPRoute, { domain: 'cluster.local', backend: () => (found ? { service: { hostname: 'echo-v1.mesh.svc.cluster.local', namespace: 'mesh', name: 'echo-v1', port: 80 } } : undefined), labelsOf: () => ({ app: 'a' }) }, 0);
      } catch (err) {
        expectClearError(err);
        return;
      }
      compiled++;
      for (const q of reqs) exercise([entry], fakeContext(q, env));
    }),
    opts(800),
  );
  t.true(compiled > 0);
  t.log(`${compiled} compiled`);
});
