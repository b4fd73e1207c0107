import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { stringify } from 'yaml';
import { echo } from './helpers.js';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');

test('main: serves from a local YAML file, reloads it on change, drains on SIGTERM', async (t) => {
  const app = await echo('productpage');
  const dir = mkdtempSync(join(tmpdir(), 'ambit-wp-main-'));
  const file = join(dir, 'waypoint.yaml');
  const config = (resources: unknown[]) =>
    stringify({
      waypoint: { name: 'waypoint', namespace: 'default' },
      listeners: { http: 0, readiness: 0, metrics: 0, host: '127.0.0.1' },
      mesh: {
        services: [{ name: 'productpage', namespace: 'default', hostname: 'productpage.default.svc.cluster.local', vips: ['/10.96.0.30'], ports: { 9080: app.port } }],
        workloads: [{ uid: 'pp', name: 'pp', namespace: 'default', serviceAccount: 'pp', workloadIps: ['127.0.0.1'], protocol: 'TCP', services: { 'default/productpage.default.svc.cluster.local': { 9080: app.port } } }],
      },
      resources,
    });
  writeFileSync(file, config([]));
  const child = spawn(process.execPath, [main, '--config', file, '--plugins-dir', join(dir, 'plugins'), '--drain-seconds', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  try {
    const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 15000);
      child.stdout.on('data', () => {
        const m = /waypoint ready.*http=(\d+) readiness=(\d+) metrics=(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
    const url = `http://127.0.0.1:${ready[1]}`;
    const get = async () => {
      const r = await request(url + '/', { headers: { host: 'productpage:9080' } });
      return { status: r.statusCode, body: await r.body.text() };
    };
    t.is((await get()).status, 200);
    t.is((await request(`http://127.0.0.1:${ready[2]}/healthz/ready`)).statusCode, 200);
    writeFileSync(
      file,
      config([{ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'default' }, spec: { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }, action: 'DENY', rules: [{}] } }]),
    );
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await get()).status;
    }
    t.is(status, 403);
    t.regex(out, /"GET \/ HTTP\/1.1" 200/);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    t.is(await exited, 0);
    t.regex(out, /draining/);
  } finally {
    child.kill('SIGKILL');
    await app.close();
  }
});

test('main: a bad AMBIT_NUM_TRUSTED_PROXIES stops the start with one line naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-wp-main-'));
  const file = join(dir, 'waypoint.yaml');
  writeFileSync(file, stringify({ waypoint: { name: 'waypoint', namespace: 'default' }, listeners: { readiness: 0, metrics: 0, host: '127.0.0.1' } }));
  const child = spawn(process.execPath, [main, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AMBIT_NUM_TRUSTED_PROXIES: 'two' } });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  // A waypoint that ignores the variable would start and run: stop it rather than wait forever.
  const cap = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(cap);
  rmSync(dir, { recursive: true, force: true });
  t.is(code, 1, out);
  t.regex(out, /AMBIT_NUM_TRUSTED_PROXIES must be a whole number >= 0 \(Istio's numTrustedProxies\), got \\?"two\\?"/);
});
