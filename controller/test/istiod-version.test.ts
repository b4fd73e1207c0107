// istiod's `/version` on the monitoring port (15014), as `istioctl version` asks for it: a GET of `//version`
// (its path joined after a slash) through a port-forward to each ready `app=istiod,istio.io/rev=<rev>` pod, whose
// text it splits on the last two dashes into version, revision and status.
import fs from 'node:fs';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { runController } from '../src/control-plane.js';
import { VERSION } from '../src/install/version.js';
import { KubeClient } from '../src/kube/client.js';
import { nullLogger } from '@ambit/mesh-api';
import { Registry } from '../src/kube/metrics.js';
import { FakeApiServer } from './fake-apiserver.js';

/** What istioctl's setServerInfoWithIstiodVersionInfo makes of the text. */
function asIstioctlReadsIt(text: string): { version: string; revision: string; status: string } {
  const parts = text.split('-');
  if (parts.length < 3) return { version: text, revision: '', status: '' };
  return { version: parts.slice(0, -2).join('-'), revision: parts.at(-2)!, status: parts.at(-1)! };
}

test('the monitoring port answers GET //version and /version with the version, revision and status', async (t) => {
  const api = new FakeApiServer();
  const client = new KubeClient({ server: await api.start(), namespace: 'default', source: 'test' });
  api.put('/api/v1/namespaces', { metadata: { name: 'istio-system' } });
  const ctl = await runController({ client, monitoringPort: 0, leaderElect: false, log: nullLogger, registry: new Registry(), env: { AMBIT_CA_PORT: '0' } });
  t.teardown(async () => {
    await ctl.stop();
    await api.stop();
  });
  for (const path of ['//version', '/version']) {
    const res = await fetch(`http://127.0.0.1:${ctl.monitoringPort}${path}`, { redirect: 'manual' });
    t.is(res.status, 200, path);
    t.regex(res.headers.get('content-type') ?? '', /^text\/plain/);
    const body = await res.text();
    t.deepEqual(asIstioctlReadsIt(body), { version: VERSION, revision: 'unknown', status: 'unknown' }, path);
  }
  // The other paths are unchanged.
  t.is((await fetch(`http://127.0.0.1:${ctl.monitoringPort}//metrics`)).status, 200);
  t.is((await fetch(`http://127.0.0.1:${ctl.monitoringPort}/versions`)).status, 404);
  t.is((await fetch(`http://127.0.0.1:${ctl.monitoringPort}/version`, { method: 'POST' })).status, 404);
});

test('the istiod pods carry the labels istioctl selects them by: app=istiod and istio.io/rev=default', (t) => {
  const docs = parseAllDocuments(fs.readFileSync(new URL('../../manifests/20-controller.yaml', import.meta.url), 'utf8')).map((d) => d.toJS());
  const deployment = docs.find((d) => d?.kind === 'Deployment' && d.metadata.name === 'istiod');
  const labels = deployment.spec.template.metadata.labels as Record<string, string>;
  t.is(labels.app, 'istiod');
  t.is(labels['istio.io/rev'], 'default');
  t.is(labels.istio, 'pilot');
  t.is(deployment.spec.template.metadata.annotations['prometheus.io/port'], '15014', 'the port istioctl port-forwards to');
});
