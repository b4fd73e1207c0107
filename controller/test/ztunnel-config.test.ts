// `ambit ztunnel-config`: istioctl's tables rendered from a ztunnel /config_dump, and its one-line errors.
import test from 'ava';
import { runCli } from '../src/cli/run.js';
import { renderCertificates, renderPolicies, renderServices, renderWorkloads, renderZtunnelConfig, type ConfigDump } from '../src/cli/ztunnel-config.js';

const dump: ConfigDump = {
  workloads: [
    { uid: 'c//Pod/default/sleep-1', name: 'sleep-1', namespace: 'default', workloadIps: ['10.244.1.7'], protocol: 'HBONE', node: 'node-1' },
    { uid: 'c//Pod/bookinfo/reviews-1', name: 'reviews-1', namespace: 'bookinfo', workloadIps: ['10.244.2.9'], protocol: 'HBONE', node: 'node-2', waypoint: { destination: '/10.96.0.50', hboneMtlsPort: 15008 } },
    { uid: 'c//Pod/kube-system/coredns-1', name: 'coredns-1', namespace: 'kube-system', workloadIps: ['10.244.1.2'], protocol: 'TCP', node: 'node-1' },
  ],
  services: [
    { name: 'waypoint', namespace: 'bookinfo', hostname: 'waypoint.bookinfo.svc.cluster.local', vips: ['/10.96.0.50'], endpoints: { a: { workloadUid: 'a' } } },
    { name: 'reviews', namespace: 'bookinfo', hostname: 'reviews.bookinfo.svc.cluster.local', vips: ['/10.96.0.40'], waypoint: { destination: '/10.96.0.50' }, endpoints: { a: { workloadUid: 'a', status: 'Healthy' }, b: { workloadUid: 'b', status: 'Unhealthy' } } },
  ],
  policies: [{ name: 'viewer', namespace: 'bookinfo', action: 'Allow', scope: 'WorkloadSelector' }],
  certificates: [
    {
      identity: 'spiffe://cluster.local/ns/default/sa/sleep',
      state: 'Available',
      certChain: [
        { pem: '-----BEGIN CERTIFICATE-----\nLEAF', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-01-02T00:00:00.000Z', serial: 'ABCD01' },
        { pem: '-----BEGIN CERTIFICATE-----\nROOT', notBefore: '2025-01-01T00:00:00.000Z', notAfter: '2035-01-01T00:00:00.000Z', serial: '01' },
      ],
      roots: ['-----BEGIN CERTIFICATE-----\nROOT'],
    },
  ],
};

test('workloads: istioctl columns, sorted, waypoint by service name, namespace filter', (t) => {
  t.is(
    renderWorkloads(dump),
    [
      'NAMESPACE       POD NAME      ADDRESS        NODE       WAYPOINT     PROTOCOL',
      'bookinfo        reviews-1     10.244.2.9     node-2     waypoint     HBONE',
      'default         sleep-1       10.244.1.7     node-1     None         HBONE',
      'kube-system     coredns-1     10.244.1.2     node-1     None         TCP',
      '',
    ].join('\n'),
  );
  t.is(renderWorkloads(dump, 'default').split('\n').length, 3);
});

test('services: VIPs without the network, healthy/total endpoints', (t) => {
  t.is(
    renderServices(dump),
    [
      'NAMESPACE     SERVICE NAME     SERVICE VIP     WAYPOINT     ENDPOINTS',
      'bookinfo      reviews          10.96.0.40      waypoint     1/2',
      'bookinfo      waypoint         10.96.0.50      None         1/1',
      '',
    ].join('\n'),
  );
});

test('policies', (t) => {
  t.is(renderPolicies(dump), 'NAMESPACE     POLICY NAME     ACTION     SCOPE\nbookinfo      viewer          Allow      WorkloadSelector\n');
  t.is(renderPolicies(dump, 'default'), 'NAMESPACE     POLICY NAME     ACTION     SCOPE\n');
});

test('certificates: one row per chain member, validity at now, never PEM or key material', (t) => {
  const out = renderCertificates(dump, undefined, new Date('2026-01-01T12:00:00Z'));
  const lines = out.trimEnd().split('\n');
  t.deepEqual(lines[0]!.split(/\s{2,}/), ['CERTIFICATE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE']);
  t.deepEqual(lines[1]!.split(/\s+/), ['spiffe://cluster.local/ns/default/sa/sleep', 'Leaf', 'Available', 'true', 'abcd01', '2026-01-02T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
  t.deepEqual(lines[2]!.split(/\s+/).slice(1, 4), ['Root', 'Available', 'true']);
  t.false(out.includes('BEGIN'));
  t.is(renderCertificates(dump, undefined, new Date('2026-02-01T00:00:00Z')).split('\n')[1]!.split(/\s+/)[3], 'false');
  t.is(renderZtunnelConfig('certificates', dump, 'bookinfo').trimEnd().split('\n').length, 1);
});

test('cli: unknown type and unreachable cluster are one-line errors, exit 1', async (t) => {
  let err = '';
  const io = { out: () => undefined, err: (s: string) => (err += s), env: { KUBECONFIG: '/nonexistent/kubeconfig', HOME: '/nonexistent' } };
  t.is(await runCli(['ztunnel-config', 'nodes'], io), 1);
  t.is(err, 'Error: unknown ztunnel config type "nodes" (expected one of: workloads, services, policies, certificates)\n');
  err = '';
  t.is(await runCli(['zc', 'workloads'], io), 1);
  t.regex(err, /^Error: [^\n]+\n$/);
});
