#!/usr/bin/env node
// Waypoint controller benchmark (printed, never asserted): on a private control plane (etcd + kube-apiserver +
// kube-controller-manager from the cached Kubernetes build), with the controller as its own process:
//   1. Gateway create -> Deployment + Service applied (latency per Gateway, N in sequence)
//   2. Pod Ready -> Programmed True (a Ready endpoint appears behind the waypoint Service)
//   3. 1,000 Gateways: time to reconcile all, controller memory and CPU (from its /metrics)
// Usage: npm run bench -w controller   (AMBIT_BENCH_GATEWAYS=1000, AMBIT_BENCH_SEQUENTIAL=30)
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
const { binDir, startPrivateControlPlane } = await import(join(dist, 'test', 'integration', 'env.js'));
const { R } = await import(join(dist, 'src', 'index.js'));

if (!binDir()) {
  console.log('controller bench: Kubernetes binaries not built (test/k8s/build.sh); skipped');
  process.exit(0);
}
const TOTAL = Number(process.env.AMBIT_BENCH_GATEWAYS ?? 1000);
const SEQ = Number(process.env.AMBIT_BENCH_SEQUENTIAL ?? 30);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (n=${xs.length})`;

const cluster = await startPrivateControlPlane();
const client = cluster.client;
let ctl;
try {
  await client.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  ctl = spawn(process.execPath, [join(dist, 'src', 'main.js'), '--kubeconfig', cluster.kubeconfig, '--monitoring-port', '0', '--no-components', '--no-leader-elect'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, AMBIT_LOG_LEVEL: 'info' },
  });
  let port;
  ctl.stderr.on('data', (c) => {
    const m = /monitoring server listening.*port=(\d+)/.exec(String(c));
    if (m) port = Number(m[1]);
  });
  const metrics = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await res.text();
    const get = (name) => Number(new RegExp(`^${name}(?:\\{\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: get('process_resident_memory_bytes'), heap: get('nodejs_heap_used_bytes'), cpu: get('process_cpu_seconds_total'), text };
  };
  const ns = 'bench';
  await client.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const gw = (name) => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: ns }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } });
  const until = async (fn, ms = 60_000, pollMs = 5) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error('timed out');
      await sleep(pollMs);
    }
  };
  await until(async () => (await client.getOrUndefined(R.gatewayClass, undefined, 'istio-waypoint')) !== undefined, 30_000);
  while (!port) await sleep(50);

  // 1. Create -> Deployment + Service.
  const createLat = [];
  const readyLat = [];
  for (let i = 0; i < SEQ; i++) {
    const name = `seq-${i}`;
    const t0 = performance.now();
    await client.create(R.gateway, gw(name));
    await until(async () => (await client.getOrUndefined(R.deployment, ns, name)) && (await client.getOrUndefined(R.service, ns, name)));
    createLat.push(performance.now() - t0);
    // 2. Ready endpoint -> Programmed.
    const t1 = performance.now();
    await client.create(R.endpointSlice, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-ready`, namespace: ns, labels: { 'kubernetes.io/service-name': name, 'gateway.istio.io/managed': 'istio.io-mesh-controller' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.9.9'], conditions: { ready: true } }],
    });
    await until(async () => (await client.get(R.gateway, ns, name)).status?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True'));
    readyLat.push(performance.now() - t1);
  }
  console.log(`Gateway create -> Deployment+Service applied: ${fmt(createLat)}`);
  console.log(`Ready endpoint -> Programmed True:            ${fmt(readyLat)}`);

  // 3. Many Gateways.
  const before = await metrics();
  const t0 = performance.now();
  const names = Array.from({ length: TOTAL }, (_, i) => `bulk-${i}`);
  for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => client.create(R.gateway, gw(n))));
  const created = performance.now() - t0;
  await until(async () => {
    const l = await client.listAll(R.gateway, ns);
    return l.items.filter((g) => g.status?.conditions?.some((c) => c.type === 'Programmed' && c.reason !== 'Pending')).length >= TOTAL + SEQ;
  }, 30 * 60_000, 250);
  const all = performance.now() - t0;
  const after = await metrics();
  await sleep(5000);
  const idle = await metrics();
  const deps = (await client.listAll(R.deployment, ns)).items.length;
  console.log(`${TOTAL} Gateways created in ${(created / 1000).toFixed(1)} s; all reconciled (objects + status) after ${(all / 1000).toFixed(1)} s (${((TOTAL / all) * 1000).toFixed(0)} Gateways/s); Deployments: ${deps}`);
  console.log(`controller CPU for the ${TOTAL}: ${(after.cpu - before.cpu).toFixed(1)} s; idle CPU over 5 s: ${(idle.cpu - after.cpu).toFixed(2)} s`);
  console.log(`controller memory with ${TOTAL + SEQ} Gateways: RSS ${(idle.rss / 2 ** 20).toFixed(0)} MiB, heap ${(idle.heap / 2 ** 20).toFixed(0)} MiB (before: RSS ${(before.rss / 2 ** 20).toFixed(0)} MiB)`);
  const recon = /reconciles_total\{controller="gateway",result="success"\} (\d+)/.exec(after.text)?.[1];
  console.log(`gateway reconciles: ${recon}; API requests are in the controller's metrics (${/workqueue_adds_total\{name="gateway"\} (\d+)/.exec(after.text)?.[1]} queue adds)`);
} finally {
  ctl?.kill('SIGTERM');
  await cluster.stop();
}
