// Golden-file tests of the waypoint controller's decision (Istio's deployment-controller style): each
// testdata/<case>.yaml holds a Gateway and what exists in the cluster; <case>.golden.yaml holds the objects the
// controller applies and the Gateway status it writes. A missing golden file is a failure: write (or rewrite) them
// deliberately with AMBIT_UPDATE_GOLDEN=1, then review the diff.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { planGateway, type EndpointSlice, type Gateway, type GatewayClass } from '../src/gateway/index.js';
import type { KubeObject } from '../src/kube/resources.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'testdata');
const NOW = '2024-01-01T00:00:00Z';

export function runCase(inputYaml: string): string {
  const docs = parseAllDocuments(inputYaml).map((d) => d.toJSON() as KubeObject).filter(Boolean);
  const gateway = docs.find((d) => d.kind === 'Gateway') as Gateway;
  const gatewayClass = docs.find((d) => d.kind === 'GatewayClass') as GatewayClass | undefined;
  const existing = new Map<string, KubeObject>();
  for (const d of docs) if (['ServiceAccount', 'Deployment', 'Service'].includes(d.kind!)) existing.set(`${d.kind}/${d.metadata.name}`, d);
  const endpointSlices = docs.filter((d) => d.kind === 'EndpointSlice') as EndpointSlice[];
  const ingress = { secrets: docs.filter((d) => d.kind === 'Secret'), referenceGrants: docs.filter((d) => d.kind === 'ReferenceGrant') };
  const configMaps = docs.filter((d) => d.kind === 'ConfigMap');
  const configMap = (ns: string, name: string) => configMaps.find((c) => c.metadata.namespace === ns && c.metadata.name === name);
  const plan = planGateway({ gateway, gatewayClass, existing, endpointSlices, render: { version: '0.1.0' }, now: NOW, ingress, configMap });
  if (plan.action === 'ignore') return `# ignored: ${plan.reason}\n`;
  const out: unknown[] = [...plan.apply];
  const meta: Record<string, unknown> = { name: gateway.metadata.name, namespace: gateway.metadata.namespace };
  if (plan.setControllerVersion) meta.annotations = { 'gateway.istio.io/controller-version': '5' };
  out.push({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: meta, status: plan.status });
  return out.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

const cases = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.endsWith('.golden.yaml'));

for (const file of cases) {
  const name = file.replace(/\.yaml$/, '');
  test(`golden: ${name}`, (t) => {
    const got = runCase(readFileSync(join(dir, file), 'utf8'));
    const goldenPath = join(dir, `${name}.golden.yaml`);
    if (process.env.AMBIT_UPDATE_GOLDEN === '1') {
      writeFileSync(goldenPath, got);
      t.log(`wrote ${goldenPath}`);
    }
    if (!existsSync(goldenPath)) {
      return t.fail(`${goldenPath} is missing: create it deliberately with AMBIT_UPDATE_GOLDEN=1 and review it`);
    }
    t.is(got, readFileSync(goldenPath, 'utf8'));
  });
}

test('golden cases cover the dialects and failure modes', (t) => {
  for (const c of ['namespace-waypoint', 'namespace-waypoint-ready', 'sa-waypoint-2022', 'sa-waypoint-2024', 'for-service-account', 'invalid-listener', 'other-class', 'overrides', 'unmanaged-conflict', 'newer-controller', 'ingress-gateway', 'ingress-gateway-pending', 'ingress-gateway-ready', 'ingress-gateway-clusterip', 'ingress-gateway-listeners', 'ingress-invalid-parameters-ref', 'ingress-parameters-configmap-missing', 'ingress-parameters-configmap']) {
    t.true(cases.includes(`${c}.yaml`), c);
  }
});
