// A ztunnel (explicit mode, loopback 127.78.0.0/16) whose CA goes down past its workload certificate's expiry:
// readiness 503 with one log line saying why, HBONE refused at once; readiness 200 again once the CA is back.
import * as net from 'node:net';
import test from 'ava';
import { CertificateManager, HboneClient, HboneError, LocalCA, createRootCA, setLogSink, type CertificateSource, type WorkloadCertificate } from '@ambit/mesh-api';
import { Ztunnel, parseZtunnelConfig } from '../src/index.js';

const logs: string[] = [];
setLogSink((l) => logs.push(l));

const SERVER = 'spiffe://cluster.local/ns/default/sa/server';
const mesh = `
workloads:
- uid: c//Pod/default/server
  name: server
  namespace: default
  serviceAccount: server
  workloadIps: ["127.78.0.3"]
  protocol: HBONE
`;

const readiness = async (port: number) => (await fetch(`http://127.0.0.1:${port}/healthz/ready`)).status;

test('CA down past expiry: not ready, one log line, HBONE fails closed; the CA back, ready again without restart', async (t) => {
  const ca = new LocalCA(createRootCA(), 3); // 3 s certificates, backdated: renewal due at once, expiry in 3 s
  let down = false;
  const source: CertificateSource = {
    fetch: async (id, csr) => {
      if (down) throw new Error('connect ECONNREFUSED 10.96.0.10:15012');
      return ca.fetch(id, csr);
    },
  };
  const cfg = parseZtunnelConfig(
    JSON.stringify({ localXds: mesh, adminAddr: 'off', readinessAddr: '127.0.0.1:0', statsAddr: 'off', hbonePort: 15309, explicit: { workloads: [{ uid: 'c//Pod/default/server' }] } }),
    {},
  );
  const app = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
  await new Promise<void>((r) => app.listen(8080, '127.78.0.3', () => r()));
  const z = new Ztunnel(cfg, { certificateSource: source });
  const ports = (await z.start()) as unknown as { readiness: number; hbone: Record<string, number> };
  t.is(await readiness(ports.readiness), 200);
  down = true;
  await new Promise((r) => z.certs.once('expired', r));
  t.is(await readiness(ports.readiness), 503);
  const lines = logs.filter((l) => l.includes(`certificate for ${SERVER} expired at`));
  t.is(lines.length, 1);
  t.regex(lines[0]!, /renewal failing: connect ECONNREFUSED/);
  t.false(logs.some((l) => l.includes('PRIVATE KEY')));

  // A peer with a valid certificate is refused at once: a clear failure, not a hang.
  const peer = await new CertificateManager(new LocalCA(ca.ca, 3600)).get('spiffe://cluster.local/ns/default/sa/client');
  const req = (certificate: WorkloadCertificate) => ({ nextHop: { host: '127.78.0.3', port: 15309 }, authority: '127.78.0.3:8080', expectedIdentities: [SERVER], certificate });
  const client = new HboneClient();
  await t.throwsAsync(client.connect(req(peer)), { instanceOf: HboneError });
  t.true(logs.some((l) => l.includes('hbone connection refused') && l.includes(SERVER)));

  const renewed = new Promise((r) => z.certs.once('updated', r));
  down = false;
  await renewed;
  t.is(await readiness(ports.readiness), 200);
  const s = await client.connect(req(peer));
  const echoed = new Promise<string>((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
  });
  s.end('recovered');
  t.is(await echoed, 'recovered');
  client.destroy();
  await z.stop();
  app.close();
});
