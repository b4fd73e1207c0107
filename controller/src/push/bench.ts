#!/usr/bin/env node
// Control-plane figures (printed, never asserted): model build time and size per workload, and how long a policy
// change takes to reach N connected ztunnels (rebuild + diff + push + apply + ack), over real TLS/HTTP/2 on
// loopback with an in-memory CA (no API server).
//
//   node controller/dist/src/push/bench.js [--pods 1000] [--services 300] [--clients 50] [--rounds 20]

import { pathToFileURL } from 'node:url';
import { ConfigClient, nullLogger, type MeshConfig } from '@ambit/mesh-api';
import { CaComponent, staticPodLookup, type SecretStore } from '../ca/index.js';
import type { TokenReviewer } from '../ca/auth.js';
import { buildMesh } from '../mesh/build.js';
import type { MeshInput, Pod } from '../mesh/input.js';
import type { KubeObject } from '../kube/resources.js';
import { PushComponent } from './index.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};

export function syntheticCluster(pods: number, services: number, namespaces = 10): MeshInput {
  const input: MeshInput = { pods: [], services: [], namespaces: [], gateways: [], gatewayClasses: [], authorizationPolicies: [] };
  for (let n = 0; n < namespaces; n++) input.namespaces.push({ metadata: { name: `ns${n}`, labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  for (let s = 0; s < services; s++) {
    const ns = `ns${s % namespaces}`;
    input.services.push({
      metadata: { name: `svc${s}`, namespace: ns, labels: { app: `app${s}` } },
      spec: { clusterIP: `10.96.${s >> 8}.${s & 255}`, selector: { app: `app${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'grpc', port: 9090, targetPort: 9090 }] },
    });
  }
  for (let p = 0; p < pods; p++) {
    const s = p % services;
    const ns = `ns${s % namespaces}`;
    const pod: Pod = {
      metadata: {
        name: `app${s}-v1-7d9f8c6b5-${p.toString(36).padStart(5, '0')}`,
        namespace: ns,
        labels: { app: `app${s}`, version: 'v1', 'pod-template-hash': '7d9f8c6b5' },
        annotations: { 'ambient.istio.io/redirection': 'enabled' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `app${s}-v1-7d9f8c6b5`, uid: 'x', controller: true }],
      },
      spec: { serviceAccountName: `sa${s}`, nodeName: `node-${p % 3}`, containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { phase: 'Running', podIP: `10.244.${p >> 8}.${p & 255}`, conditions: [{ type: 'Ready', status: 'True' }] },
    };
    input.pods.push(pod);
  }
  return input;
}

const policy = (i: number): KubeObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: `allow-${i}`, namespace: 'ns0' },
  spec: { selector: { matchLabels: { app: 'app0' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: [`cluster.local/ns/ns1/sa/sa${i}`] } }] }] },
});

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function main(): Promise<void> {
  const pods = arg('pods', 1000);
  const services = arg('services', 300);
  const clients = arg('clients', 50);
  const rounds = arg('rounds', 20);

  // ---- model size and build time -------------------------------------------------------------------------
  for (const [np, ns] of [[pods, services], [10_000, 3_000]] as const) {
    const input = syntheticCluster(np, ns);
    buildMesh(input);
    const times: number[] = [];
    let model = buildMesh(input);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      model = buildMesh(input);
      times.push(performance.now() - t0);
    }
    const whole = Buffer.byteLength(JSON.stringify(model.mesh));
    const wlBytes = Buffer.byteLength(JSON.stringify(model.mesh.workloads));
    console.log(
      `model ${np} pods / ${ns} services: build p50 ${ms(pct(times, 50))}; full config ${(whole / 1024).toFixed(0)} KiB = ${(whole / np).toFixed(0)} bytes per workload (workload entries alone ${(wlBytes / np).toFixed(0)} B)`,
    );
  }

  // ---- push latency ---------------------------------------------------------------------------------------
  const review: TokenReviewer = async () => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:istio-system:ztunnel' } });
  const mem: Record<string, Record<string, string>> = {};
  const secrets: SecretStore = { get: async (n, s) => mem[`${n}/${s}`], create: async (n, s, _t, d) => ((mem[`${n}/${s}`] = d), true) };
  const ca = new CaComponent({ port: 0, host: '127.0.0.1', tokenReviewer: review, pods: staticPodLookup(() => []), secrets, log: nullLogger });
  await ca.start();
  // The bench measures pushing, not admission: every client is let in (they share one token and no pod).
  const push = new PushComponent({ server: ca.server, authenticator: ca.authenticator, pods: ca.pods, authorize: async () => {}, log: nullLogger });
  await push.start();
  const input = syntheticCluster(pods, services);
  push.update(buildMesh(input));
  const cs: ConfigClient<MeshConfig>[] = [];
  for (let i = 0; i < clients; i++) {
    const c = new ConfigClient<MeshConfig>({ address: `https://localhost:${ca.server.port}`, rootCert: ca.rootPem, token: 't', kind: 'ztunnel', node: `node-${i}` });
    cs.push(c);
    await c.start();
  }
  const t0 = performance.now();
  await Promise.all(cs.map((c) => c.ready()));
  console.log(`${clients} ztunnels connected and holding the full config in ${ms(performance.now() - t0)}`);

  const all: number[] = [];
  const build: number[] = [];
  let deltaBytes = 0;
  for (let r = 0; r < rounds; r++) {
    input.authorizationPolicies = [...(input.authorizationPolicies ?? []), policy(r)];
    const start = performance.now();
    const acked = new Promise<void>((resolve) => {
      let n = 0;
      const off = push.push.onAck(() => {
        if (++n === clients) {
          off();
          resolve();
        }
      });
    });
    const off2 = push.push.onPush((e) => (deltaBytes = e.bytes));
    const b0 = performance.now();
    const model = buildMesh(input);
    build.push(performance.now() - b0);
    push.update(model);
    off2();
    await acked;
    all.push(performance.now() - start);
  }
  console.log(
    `policy change -> all ${clients} ztunnels applied and acked (${rounds} rounds, ${pods} pods / ${services} services): p50 ${ms(pct(all, 50))}, p99 ${ms(pct(all, 99))}, max ${ms(Math.max(...all))}; of which model rebuild p50 ${ms(pct(build, 50))}; delta message ${deltaBytes} bytes`,
  );
  console.log(`controller RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (with ${clients} clients in the same process)`);
  await Promise.all(cs.map((c) => c.stop()));
  await push.stop();
  await ca.stop();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
