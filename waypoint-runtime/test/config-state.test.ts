import test from 'ava';
import { request } from 'undici';
import type { K8sObject } from '@ambit/plugin-sdk';
import { Waypoint } from '../src/index.js';
import { echo, service, startWaypoint, workload } from './helpers.js';

test('a config push compiles the route table: a refused route is logged at the push, once, not at the first request after it', async (t) => {
  const ratings = await echo('ratings');
  const warnings: string[] = [];
  const logger = {
    debug() {},
    info() {},
    warn(msg: string, fields?: Record<string, unknown>) {
      warnings.push(`${msg} ${JSON.stringify(fields)}`);
    },
    error() {},
    child() {
      return logger;
    },
  };
  const waypoint = new Waypoint({ identity: { name: 'waypoint', namespace: 'default' }, accessLog: { write: () => {} }, logger });
  await waypoint.start();
  const { http } = await waypoint.listen({ http: { port: 0, host: '127.0.0.1' } });
  const bad: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'ratings-bad', namespace: 'default' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ratings', port: 9080 }], rules: [{ matches: [{ headers: [{ value: 'x' }] }], backendRefs: [{ name: 'ratings', port: 9080 }] }] },
  };
  const snapshot = {
    mesh: { services: [service('ratings', '10.96.0.35', { 9080: 0 })], workloads: [workload('ratings', '127.0.0.1', 'ratings', { 'default/ratings.default.svc.cluster.local': { 9080: ratings.port } })] },
    resources: [bad],
  };
  const refused = () => warnings.filter((w) => w.startsWith('route refused') && w.includes('HTTPRoute default/ratings-bad'));
  try {
    waypoint.apply(snapshot);
    t.is(refused().length, 1, 'logged when the config arrives, before any request');
    const r = await request(`http://127.0.0.1:${http}/`, { headers: { host: 'ratings:9080' } });
    t.is(r.statusCode, 200, 'the Service gets its default routing');
    await r.body.dump();
    t.is(refused().length, 1, 'the request reused the compiled table');
    waypoint.apply(snapshot);
    t.is(refused().length, 2, 'a new config version compiles (and logs) again');
  } finally {
    await waypoint.close(200);
    await ratings.close();
  }
});

test('a snapshot whose delta is on another version than the one applied last is taken whole', async (t) => {
  const ratings = await echo('ratings');
  const reviews = await echo('reviews');
  const mesh = {
    services: [service('ratings', '10.96.0.35', { 9080: 0 }), service('reviews', '10.96.0.36', { 9080: 0 })],
    workloads: [
      workload('ratings', '127.0.0.1', 'ratings', { 'default/ratings.default.svc.cluster.local': { 9080: ratings.port } }),
      workload('reviews', '127.0.0.1', 'reviews', { 'default/reviews.default.svc.cluster.local': { 9080: reviews.port } }),
    ],
  };
  const route: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'to-reviews', namespace: 'default' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ratings', port: 9080 }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] },
  };
  const h = await startWaypoint(mesh, [route]);
  const server = async () => {
    const r = await request(`${h.url}/`, { headers: { host: 'ratings:9080' } });
    return ((await r.body.json()) as { server: string }).server;
  };
  try {
    t.is(await server(), 'reviews');
    const empty = { upserts: {}, removals: {}, binding: false, tracing: false };
    // The first snapshot had no version: no delta applies to it.
    h.source.set({ mesh, resources: [], version: 'v2', delta: { base: 'v1', ...empty } });
    t.is(await server(), 'ratings', 'replaced whole: the route is gone');
    h.source.set({ mesh, resources: [route], version: 'v3', delta: { base: 'v1', ...empty } });
    t.is(await server(), 'reviews', 'v2 was applied last, not v1: replaced whole again');
  } finally {
    await h.close();
    await ratings.close();
    await reviews.close();
  }
});
