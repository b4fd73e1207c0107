import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { request } from 'undici';
import type { K8sObject } from '@ambit/plugin-sdk';
import { echo, service, startWaypoint, workload } from './helpers.js';

const sample = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'samples', 'plugins', 'header-injector');

test('the sample plugin, packed with npm pack, is installed by a WaypointPlugin and changes real traffic', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'ambit-pack-'));
  const info = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], { cwd: sample, encoding: 'utf8' })) as Array<{ filename: string; integrity: string; name: string; version: string }>;
  const pkg = info[0]!;
  const app = await echo('productpage');
  const mesh = { services: [service('productpage', '10.96.0.30', { 9080: 0 })], workloads: [workload('pp', '127.0.0.1', 'pp', { 'default/productpage.default.svc.cluster.local': { 9080: app.port } })] };
  const plugin: K8sObject = {
    apiVersion: 'extensions.ambit.dev/v1alpha1',
    kind: 'WaypointPlugin',
    metadata: { name: 'header-injector', namespace: 'default' },
    spec: {
      targetRefs: [{ kind: 'Service', group: '', name: 'productpage' }],
      package: { name: pkg.name, version: pkg.version, integrity: pkg.integrity, tarball: join(out, pkg.filename) },
      pluginConfig: { request: { set: { 'x-env': 'prod' } }, response: { set: { 'x-served-by': 'waypoint' } } },
    },
  };
  // The administrator's allow-list, as the controller pushes it: ConfigMap istio-system/ambit-plugin-policy.
  const policy: K8sObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'ambit-plugin-policy', namespace: 'istio-system' },
    data: { packages: '@ambit-samples/*\n', sources: `# tarballs packed here\n${pathToFileURL(out).href}/\n` },
  } as K8sObject;
  const statuses: string[] = [];
  const h = await startWaypoint(mesh, [plugin, policy], { pluginsDir: join(out, 'plugins'), onStatus: (ref, c) => void statuses.push(`${ref.name} ${c.type}=${c.status} ${c.reason}`) });
  try {
    await h.waypoint.plugins!.sync(h.waypoint.resources.list('WaypointPlugin', 'extensions.ambit.dev'));
    const res = await request(h.url + '/', { headers: { host: 'productpage:9080' } });
    t.is(res.statusCode, 200);
    t.is(res.headers['x-served-by'], 'waypoint');
    t.is(JSON.parse(await res.body.text()).headers['x-env'], 'prod');
    t.true(statuses.includes('header-injector Active=True Loaded'), statuses.join('; '));
    t.true(h.waypoint.chain.describe().some((e) => e.name === 'default/header-injector'));
    // the same package refused once the pushed allow-list no longer names it: the plugin stops changing traffic
    h.waypoint.apply({ version: 'v2', mesh, resources: [plugin, { ...policy, data: { packages: '@other/*', sources: `${pathToFileURL(out).href}/` } } as K8sObject] } as never);
    await h.waypoint.plugins!.sync(h.waypoint.resources.list('WaypointPlugin', 'extensions.ambit.dev'));
    const refused = await request(h.url + '/', { headers: { host: 'productpage:9080' } });
    await refused.body.text();
    t.is(refused.statusCode, 503);
    t.is(refused.headers['x-served-by'], undefined);
    t.true(statuses.some((s) => /^header-injector Active=False NotAllowed$/.test(s)), statuses.join('; '));
  } finally {
    await h.close();
    await app.close();
  }
});
