// Two ztunnels in explicit mode on loopback (127.79.0.0/16, HBONE on :15308), apps on the workload IPs.
import * as net from 'node:net';
import test from 'ava';
import { HboneClient, LocalCA, MeshStore, createRootCA, setLogSink, type Authorization } from '@ambit/mesh-api';
import { Ztunnel, buildOutboundRequest, parseLocalConfig, parseZtunnelConfig } from '../src/index.js';

const HBONE_PORT = 15308;
const logs: string[] = [];
setLogSink((l) => logs.push(l));

const mesh = `
workloads:
- uid: c//Pod/default/client
  name: client
  namespace: default
  serviceAccount: client
  workloadIps: ["127.79.0.2"]
  protocol: HBONE
- uid: c//Pod/default/server
  name: server
  namespace: default
  serviceAccount: server
  workloadIps: ["127.79.0.3"]
  protocol: HBONE
  canonicalName: server
  canonicalRevision: v1
  services: {"default/server.default.svc.cluster.local": {80: 8080}}
- uid: c//Pod/default/plain
  name: plain
  namespace: default
  serviceAccount: plain
  workloadIps: ["127.79.0.4"]
  protocol: TCP
services:
- name: server
  namespace: default
  hostname: server.default.svc.cluster.local
  vips: ["/127.79.1.1"]
  ports: {80: 8080}
- name: empty
  namespace: default
  hostname: empty.default.svc.cluster.local
  vips: ["/127.79.1.2"]
  ports: {80: 8080}
`;

const ca = new LocalCA(createRootCA());
const cfg = (workloads: object[]) =>
  parseZtunnelConfig(JSON.stringify({ localXds: mesh, adminAddr: 'off', readinessAddr: 'off', statsAddr: '127.0.0.1:0', hbonePort: HBONE_PORT, explicit: { workloads } }), {});

let client: Ztunnel;
let server: Ztunnel;
let clientPorts: number[];
const apps: net.Server[] = [];

function echo(host: string, port: number): Promise<void> {
  return new Promise((r) => {
    const s = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c)).listen(port, host, () => r());
    apps.push(s);
  });
}

test.before(async () => {
  client = new Ztunnel(
    cfg([
      {
        uid: 'c//Pod/default/client',
        outbound: [
          { listen: '127.79.0.2:7001', target: '127.79.1.1:80' },
          { listen: '127.79.0.2:7002', target: '127.79.1.2:80' },
          { listen: '127.79.0.2:7003', target: '127.79.0.4:9000' },
          { listen: '127.79.0.2:7004' },
        ],
      },
    ]),
    { certificateSource: ca },
  );
  server = new Ztunnel(cfg([{ uid: 'c//Pod/default/server' }]), { certificateSource: ca });
  await echo('127.79.0.3', 8080);
  await echo('127.79.0.4', 9000);
  await echo('127.79.0.9', 9000);
  clientPorts = (await client.start()).outbound['c//Pod/default/client']!;
  await server.start();
});

test.after.always(async () => {
  await client?.stop();
  await server?.stop();
  for (const a of apps) a.close();
});

function talk(port: number, payload: string, host = '127.79.0.2'): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host, localAddress: '127.79.0.2' });
    let data = '';
    let error: string | undefined;
    c.on('data', (d) => (data += d));
    c.on('error', (e) => (error = (e as NodeJS.ErrnoException).code));
    c.on('close', () => resolve({ data, error }));
    c.write(payload);
    c.end();
  });
}

const waitFor = async (pred: () => boolean) => {
  for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
};

function setPolicies(policies: Authorization[]) {
  const cfgParsed = parseLocalConfig(mesh);
  server.store.applyFull({ ...cfgParsed, policies });
}

test.serial('service VIP → HBONE to the endpoint; access log and metrics as Istio prints them, the service named on both sides', async (t) => {
  const r = await talk(clientPorts[0]!, 'hello mesh');
  t.deepEqual(r, { data: 'hello mesh', error: undefined });
  await waitFor(() => logs.filter((l) => l.includes('connection complete')).length >= 2);
  const out = logs.find((l) => l.includes('\taccess\tconnection complete\t') && l.includes('direction="outbound"'))!;
  t.regex(
    out,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z\tinfo\taccess\tconnection complete\tsrc\.addr=127\.79\.0\.2:\d+ src\.workload="client" src\.namespace="default" src\.identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/client" dst\.addr=127\.79\.0\.3:15308 dst\.hbone_addr=127\.79\.0\.3:8080 dst\.service="server\.default\.svc\.cluster\.local" dst\.workload="server" dst\.namespace="default" dst\.identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/server" direction="outbound" bytes_sent=10 bytes_recv=10 duration="\d+ms"$/,
  );
  const inb = logs.find((l) => l.includes('\taccess\tconnection complete\t') && l.includes('direction="inbound"'))!;
  t.regex(inb, /\tinfo\taccess\tconnection complete\tsrc\.addr=127\.79\.0\.2:\d+ src\.workload="client" src\.namespace="default" src\.identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/client" dst\.addr=127\.79\.0\.3:15308 dst\.hbone_addr=127\.79\.0\.3:8080 dst\.service="server\.default\.svc\.cluster\.local" dst\.workload="server" dst\.namespace="default" dst\.identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/server" direction="inbound" bytes_sent=10 bytes_recv=10 duration="\d+ms"$/);
  const metrics = (await server.ctx.metrics.render());
  t.true(
    metrics.includes(
      'istio_tcp_connections_opened_total{reporter="destination",source_workload="client",source_canonical_service="unknown",source_canonical_revision="unknown",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/client",source_app="unknown",source_version="unknown",source_cluster="Kubernetes",destination_service="server.default.svc.cluster.local",destination_service_namespace="default",destination_service_name="server",destination_workload="server",destination_canonical_service="server",destination_canonical_revision="v1",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/server",destination_app="server",destination_version="v1",destination_cluster="Kubernetes",request_protocol="tcp",response_flags="-",connection_security_policy="mutual_tls"} 1',
    ),
    metrics,
  );
  t.regex((await client.ctx.metrics.render()), /^istio_tcp_sent_bytes_total\{reporter="source",.*destination_service="server\.default\.svc\.cluster\.local",.*connection_security_policy="mutual_tls"\} 10$/m);
  t.regex((await client.ctx.metrics.render()), /^istio_tcp_received_bytes_total\{reporter="source",.*\} 10$/m);
});

test.serial('a long-lived connection\'s bytes show in the metrics as they flow, and count once when it closes', async (t) => {
  const sentOf = (text: string, reporter: string) =>
    [...text.matchAll(new RegExp(`^istio_tcp_sent_bytes_total\\{reporter="${reporter}",[^}]*destination_service="server\\.default\\.svc\\.cluster\\.local"[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  const before = { source: sentOf((await client.ctx.metrics.render()), 'source'), destination: sentOf((await server.ctx.metrics.render()), 'destination') };
  const c = net.connect({ port: clientPorts[0]!, host: '127.79.0.2', localAddress: '127.79.0.2' });
  c.on('error', () => undefined);
  const payload = 'x'.repeat(3000);
  let echoed = 0;
  await new Promise<void>((r) => {
    c.on('data', (d: Buffer) => ((echoed += d.length) >= payload.length ? r() : undefined));
    c.write(payload);
  });
  // Still open: a scrape sees the 3000 bytes on both sides already.
  t.is(sentOf((await client.ctx.metrics.render()), 'source') - before.source, 3000, 'source side, connection open');
  t.is(sentOf((await server.ctx.metrics.render()), 'destination') - before.destination, 3000, 'destination side, connection open');
  const outboundDone = () => logs.filter((l) => l.includes('\taccess\tconnection complete\t') && l.includes('direction="outbound"')).length;
  const done = outboundDone();
  const closed = new Promise((r) => c.once('close', r));
  c.end();
  await closed;
  await waitFor(() => server.inbound.openConnections === 0 && outboundDone() > done);
  t.is(sentOf((await client.ctx.metrics.render()), 'source') - before.source, 3000, 'source side, closed: counted once');
  t.is(sentOf((await server.ctx.metrics.render()), 'destination') - before.destination, 3000, 'destination side, closed: counted once');
});

test.serial('a denying policy: 401 at the destination, the client sees a connection reset', async (t) => {
  setPolicies([{ name: 'allow-nothing', namespace: 'default', scope: 'Namespace', action: 'Allow', dryRun: false, rules: [] }]);
  logs.length = 0;
  const r = await talk(clientPorts[0]!, 'denied?');
  t.is(r.data, '');
  t.is(r.error, 'ECONNRESET');
  await waitFor(() => logs.some((l) => l.includes('policy rejection')));
  t.true(logs.some((l) => /\terror\taccess\tconnection complete\t.*direction="inbound" bytes_sent=0 bytes_recv=0 duration="\d+ms" error="connection closed due to policy rejection: allow policies exist, but none allowed"$/.test(l)));
  t.regex((await server.ctx.metrics.render()), /istio_tcp_connections_opened_total\{reporter="destination",.*response_flags="DENY",connection_security_policy="mutual_tls"\} 1/);
  setPolicies([]);
});

test.serial('a policy change closes live connections no longer allowed', async (t) => {
  setPolicies([]);
  logs.length = 0;
  const c = net.connect({ port: clientPorts[0]!, host: '127.79.0.2' });
  c.on('error', () => undefined);
  const closed = new Promise((r) => c.once('close', r));
  await new Promise<void>((r) => {
    c.once('data', () => r());
    c.write('ping');
  });
  t.is(server.inbound.openConnections, 1);
  setPolicies([
    { name: 'deny-client', namespace: 'default', scope: 'Namespace', action: 'Deny', dryRun: false, rules: [[[{ principals: [{ Exact: 'cluster.local/ns/default/sa/client' }] }]]] },
  ]);
  await closed;
  await waitFor(() => logs.some((l) => l.includes('policy change')));
  t.true(logs.some((l) => /\terror\taccess\tconnection complete\t.*direction="inbound" bytes_sent=4 bytes_recv=4 duration="\d+ms" error="connection closed due to policy change"$/.test(l)));
  setPolicies([]);
});

test.serial('authority that is not the local pod: 400 ip mismatch', async (t) => {
  const cert = await client.certs.get('spiffe://cluster.local/ns/default/sa/client');
  const hc = new HboneClient();
  const e = await t.throwsAsync(
    hc.connect({ nextHop: { host: '127.79.0.3', port: HBONE_PORT }, authority: '127.79.0.50:8080', expectedIdentities: ['spiffe://cluster.local/ns/default/sa/server'], certificate: cert }),
  );
  t.is((e as { status?: number }).status, 400);
  await waitFor(() => logs.some((l) => l.includes('ip mismatch')));
  t.true(logs.some((l) => l.includes('error="ip mismatch: 127.79.0.50 != 127.79.0.3"')));
  hc.destroy();
});

test.serial('service without endpoints: no healthy upstream', async (t) => {
  logs.length = 0;
  const r = await talk(clientPorts[1]!, 'x');
  t.is(r.data, '');
  await waitFor(() => logs.some((l) => l.includes('no healthy upstream')));
  t.true(logs.some((l) => l.endsWith('error="no healthy upstream: 127.79.1.2:80"')));
});

test.serial('TCP workload: plaintext to podIP:port; unknown destination: passthrough (SOCKS5 listener)', async (t) => {
  t.is((await talk(clientPorts[2]!, 'plain')).data, 'plain');
  // SOCKS5 CONNECT 127.79.0.9:9000 (not in the mesh)
  const data = await new Promise<string>((resolve) => {
    const c = net.connect({ port: clientPorts[3]!, host: '127.79.0.2', localAddress: '127.79.0.2' });
    let buf = Buffer.alloc(0);
    c.on('data', (d) => (buf = Buffer.concat([buf, d])));
    c.on('close', () => resolve(buf.subarray(12).toString()));
    c.write(Buffer.from([5, 1, 0]));
    c.write(Buffer.from([5, 1, 0, 1, 127, 79, 0, 9, 0x23, 0x28]));
    setTimeout(() => {
      c.write('passthrough');
      c.end();
    }, 50);
  });
  t.is(data, 'passthrough');
  await waitFor(() => logs.some((l) => l.includes('dst.addr=127.79.0.9:9000')));
  t.true(logs.some((l) => /connection complete\tsrc\.addr=127\.79\.0\.2:\d+ src\.workload="client" src\.namespace="default" dst\.addr=127\.79\.0\.9:9000 direction="outbound" bytes_sent=11 bytes_recv=11/.test(l)));
});

test('outbound decisions (ztunnel test vectors)', (t) => {
  const store = new MeshStore();
  store.applyFull(
    parseLocalConfig(`
workloads:
- {uid: src, name: src, namespace: ns, serviceAccount: sa, workloadIps: [127.0.0.1], protocol: HBONE, waypoint: {destination: "/127.0.0.11", hboneMtlsPort: 15008}}
- {uid: wp, name: waypoint, namespace: ns, serviceAccount: waypoint, workloadIps: [127.0.0.10], protocol: HBONE}
- {uid: dst, name: dst, namespace: ns, serviceAccount: dst, workloadIps: [127.0.0.2], protocol: HBONE, waypoint: {destination: "/127.0.0.10", hboneMtlsPort: 15008}, services: {"ns/svc": {80: 8080}}}
services:
- {name: svc, namespace: ns, hostname: svc, vips: ["/127.0.0.3"], ports: {80: 8080}, waypoint: {destination: "/127.0.0.10", hboneMtlsPort: 15008}}
`),
  );
  const src = store.workloads.get('src')!;
  const s = { network: '', hbonePort: 15008 };
  const svc = buildOutboundRequest(store, src, { ip: '127.0.0.3', port: 80 }, s);
  t.deepEqual([svc.protocol, svc.hboneTarget, svc.nextHop, svc.expectedIdentities], ['HBONE', { ip: '127.0.0.3', port: 80 }, { ip: '127.0.0.10', port: 15008 }, ['spiffe://cluster.local/ns/ns/sa/waypoint']]);
  const unknown = buildOutboundRequest(store, src, { ip: '1.2.3.4', port: 80 }, s);
  t.deepEqual([unknown.protocol, unknown.nextHop], ['TCP', { ip: '1.2.3.4', port: 80 }]);
  const wl = buildOutboundRequest(store, src, { ip: '127.0.0.2', port: 8080 }, s);
  t.deepEqual([wl.protocol, wl.nextHop, wl.hboneTarget], ['HBONE', { ip: '127.0.0.10', port: 15008 }, { ip: '127.0.0.2', port: 8080 }]);
  // from the waypoint itself: direct
  const fromWp = buildOutboundRequest(store, store.workloads.get('wp')!, { ip: '127.0.0.2', port: 8080 }, s);
  t.deepEqual([fromWp.protocol, fromWp.nextHop, fromWp.hboneTarget], ['HBONE', { ip: '127.0.0.2', port: 15008 }, { ip: '127.0.0.2', port: 8080 }]);
  const svcFromWp = buildOutboundRequest(store, store.workloads.get('wp')!, { ip: '127.0.0.3', port: 80 }, s);
  t.deepEqual([svcFromWp.nextHop, svcFromWp.hboneTarget], [{ ip: '127.0.0.2', port: 15008 }, { ip: '127.0.0.2', port: 8080 }]);
});
