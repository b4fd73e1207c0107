// What each built-in plugin costs per request on its own, in this process: the real PluginChain over a context as
// the waypoint builds it (onRequest, onResponse, onLog), against the empty chain, alternating rounds, median. The
// process-level comparison in bench.ts moves with the machine's noise by more than a plugin costs; this figure
// does not, and the summary prints it beside the waypoint's own CPU per request.

import 'reflect-metadata';
import { PluginChain, type K8sObject, type PluginClass } from '@ambit/plugin-sdk';
import { createTestEnv, fakeContext } from '@ambit/plugin-sdk/testing';
import { AuthzPlugin, RoutingPlugin, TelemetryPlugin } from '@ambit/plugins';

const gw = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' };
/** The bench proxy's config (./proxy.ts): two policies and one route on the `app` Service. */
const resources: K8sObject[] = [
  { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-admin', namespace: 'default' }, spec: { targetRef: gw, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] } },
  { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'allow-get', namespace: 'default' }, spec: { targetRef: gw, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/*'] } }] }] } },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'app', namespace: 'default' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'app', port: 80 }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'app', port: 80 }] }] } },
];

/** Microseconds per request each plugin adds to the empty chain (`empty`: the empty chain's own, context included). */
export async function pluginCosts(requests = 20_000, rounds = 7): Promise<Record<string, number>> {
  const env = createTestEnv({
    waypoint: { name: 'waypoint', namespace: 'default' },
    services: [{ name: 'app', namespace: 'default', hostname: 'app.default.svc.cluster.local', vips: ['/10.96.0.1'], ports: { 80: 8080 } }],
    workloads: [{ uid: 'app', name: 'app-0', namespace: 'default', serviceAccount: 'app', workloadIps: ['10.244.0.20'], protocol: 'HBONE', canonicalName: 'app', canonicalRevision: 'v1', services: { 'default/app.default.svc.cluster.local': { 80: 8080 } } }],
    resources,
  });
  const chains: Record<string, PluginChain> = { empty: new PluginChain([]) };
  for (const [name, cls] of Object.entries({ authz: AuthzPlugin, routing: RoutingPlugin, telemetry: TelemetryPlugin } as Record<string, PluginClass>)) {
    chains[name] = new PluginChain([{ plugin: env.create(cls) }]);
  }
  const run = async (chain: PluginChain): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) {
      const ctx = fakeContext({ destination: '10.96.0.1:80', authority: 'app:80', path: '/bench', principal: 'spiffe://cluster.local/ns/default/sa/client', headers: { 'user-agent': 'bench' } }, env);
      await chain.onRequest(ctx);
      ctx.response = { status: 200, headers: { 'content-type': 'text/plain' }, bytes: 1024 };
      await chain.onResponse(ctx);
      await chain.onLog(ctx);
    }
    const us = ((performance.now() - t0) * 1000) / requests;
    env.accessLog.length = 0; // the test env keeps each line: let them go
    return us;
  };
  const samples: Record<string, number[]> = {};
  for (const c of Object.values(chains)) await run(c); // warm-up
  for (let r = 0; r < rounds; r++) for (const [name, c] of Object.entries(chains)) (samples[name] ??= []).push(await run(c));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const empty = median(samples.empty!);
  const out: Record<string, number> = {};
  for (const name of Object.keys(chains)) out[name] = name === 'empty' ? empty : median(samples[name]!) - empty;
  return out;
}
