// The waypoint's readiness follows its certificate: 503 while it has expired and the CA is down, 200 again after
// the renewal, without a restart; its HBONE listener refuses connections meanwhile.
import test from 'ava';
import { request } from 'undici';
import { CertificateManager, HboneClient, HboneError, LocalCA, createRootCA, type CertificateSource, type WorkloadCertificate } from '@ambit/mesh-api';
import { HboneTermination } from '../src/index.js';
import { startWaypoint } from './helpers.js';

const ID = 'spiffe://cluster.local/ns/default/sa/waypoint';

test('CA down past expiry: readiness 503 and HBONE refused; the CA back, ready and serving again', async (t) => {
  const ca = new LocalCA(createRootCA(), 3); // 3 s certificates, backdated: renewal due at once, expiry in 3 s
  let down = false;
  const source: CertificateSource = {
    fetch: async (id, csr) => {
      if (down) throw new Error('connect ECONNREFUSED 10.96.0.10:15012');
      return ca.fetch(id, csr);
    },
  };
  const logs: string[] = [];
  const certs = new CertificateManager(source, { initialBackoffMs: 100, maxBackoffMs: 200, log: (level, m) => logs.push(`${level} ${m}`) });
  const h = await startWaypoint({ services: [], workloads: [] }, [], { certificateValid: () => certs.expired().length === 0 });
  const term = new HboneTermination(h.waypoint, { certificate: await certs.get(ID), trustDomain: 'cluster.local' });
  certs.on('updated', (id: string, c: WorkloadCertificate) => id === ID && term.setCertificate(c));
  const { port } = await term.listen(0, '127.0.0.1');
  const ready = async () => (await request(`http://127.0.0.1:${h.ports.readiness}/healthz/ready`)).statusCode;
  t.is(await ready(), 200);

  down = true;
  await new Promise((r) => certs.once('expired', r));
  t.is(await ready(), 503);
  t.is(logs.filter((l) => l.startsWith('error') && l.includes(`certificate for ${ID} expired at`) && l.includes('ECONNREFUSED')).length, 1);
  const peer = await new CertificateManager(new LocalCA(ca.ca, 3600)).get('spiffe://cluster.local/ns/default/sa/client');
  const client = new HboneClient();
  const req = { nextHop: { host: '127.0.0.1', port }, authority: '10.96.0.99:80', expectedIdentities: [ID], certificate: peer };
  await t.throwsAsync(client.connect(req), { instanceOf: HboneError });

  const renewed = new Promise((r) => certs.once('updated', r));
  down = false;
  await renewed;
  t.is(await ready(), 200);
  // The handshake succeeds again: the waypoint answers the CONNECT itself (400: not a destination bound to it).
  const e = await t.throwsAsync(client.connect(req), { instanceOf: HboneError });
  t.is(e.status, 400);
  client.destroy();
  term.server.destroy();
  await h.close();
  certs.close();
});
